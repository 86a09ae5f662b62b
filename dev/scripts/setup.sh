#!/usr/bin/env bash
# `make setup`: everything `make demo` and `make test` need, from nothing but Python 3.11 (Debian 12's own
# python3 will do: it refuses `pip install` (PEP 668), and nothing here pip-installs into it).
#   1. uv: on PATH, else in a private venv (.tmp/uv-venv, made with `python3 -m venv`, pip-installed there),
#   2. `uv sync` -> .venv with the workspace and dev tools,
#   3. `meltano install` -> plugin venvs in .meltano/ (skipped when nothing it installs has changed).
# The long installs print what they are installing and the seconds elapsed while they run.
#
#   bash dev/scripts/setup.sh              # all three
#   bash dev/scripts/setup.sh uv ARGS...   # step 1 only, then run `uv ARGS...` (`make dist` builds so)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
# Where uv goes when it is not on PATH (overridable for the tests).
UV_VENV=${SETUP_UV_VENV:-.tmp/uv-venv}
step() { printf '==> %s\n' "$*"; }

# Runs "$@" with its output in $log; meanwhile prints what of each new line matches $pattern (what is being
# installed) and, every 15 s without one, the seconds elapsed. Fails with the log's tail when "$@" does.
with_progress() {
  local log=$1 pattern=$2
  shift 2
  local start=$SECONDS shown=0 quiet_since=$SECONDS
  mkdir -p "$(dirname "$log")"
  "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    local lines
    lines=$(wc -l <"$log")
    if ((lines > shown)); then
      if sed -n "$((shown + 1)),${lines}p" "$log" | grep -oE "$pattern" | cut -c1-100 |
        sed "s/^/    [$((SECONDS - start)) s] /"; then
        quiet_since=$SECONDS
      fi
      shown=$lines
    fi
    if ((SECONDS - quiet_since >= 15)); then
      echo "    [$((SECONDS - start)) s] still working (log: $log)"
      quiet_since=$SECONDS
    fi
  done
  if ! wait "$pid"; then
    tail -30 "$log" >&2
    echo "failed after $((SECONDS - start)) s: $*; full log: $log" >&2
    return 1
  fi
  echo "    done in $((SECONDS - start)) s"
}

find_uv() {
  if command -v uv >/dev/null 2>&1; then
    UV=(uv)
  elif [[ -x $UV_VENV/bin/uv ]]; then
    UV=("$UV_VENV/bin/uv")
  else
    step "installing uv into a private venv ($UV_VENV; the system Python is left alone)"
    if ! "$PYTHON" -m venv "$UV_VENV" >/dev/null; then
      echo "error: '$PYTHON -m venv' failed: on Debian/Ubuntu, apt-get install python3-venv" >&2
      exit 1
    fi
    "$UV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv
    UV=("$UV_VENV/bin/uv")
  fi
}

find_uv
if [[ ${1:-} == uv ]]; then
  shift
  exec "${UV[@]}" "$@"
fi

step "uv sync (workspace venv in .venv/: the workspace packages, singer-sdk, meltano, dlt, dagster, ...)"
# Bytecode compiled now: the machines set PYTHONDONTWRITEBYTECODE, and without .pyc files every tap
# start recompiles singer-sdk and friends (0.8 s of each run).
mkdir -p output
with_progress output/uv-sync.log '^(Using|Creating|Resolved|Prepared|Installed|Bytecode compiled|Uninstalled).*' \
  "${UV[@]}" sync --compile-bytecode

# Reinstall plugins only when meltano.yml or a package's dependencies changed (taps are editable installs).
key=$(cat meltano.yml pyproject.toml ./*/*/pyproject.toml pipelines/orchestration/accounts.meltano.yml | sha256sum | cut -c1-16)
stamp=.meltano/.setup-installed
if [[ -f $stamp && $(cat "$stamp") == "$key" ]]; then
  step "meltano plugins already installed (.meltano/)"
else
  step "meltano install (taps, target-duckdb-bulk, target-postgres-bulk, target-duckdb, target-jsonl, target-postgres into .meltano/)"
  with_progress output/meltano-install.log "Install(ing|ed) [a-z]+ '[^']+'|[Ff]ailed.*" \
    env UV_COMPILE_BYTECODE=1 .venv/bin/meltano install
  echo "$key" >"$stamp"
fi
