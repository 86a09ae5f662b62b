#!/usr/bin/env bash
# `make setup`: everything `make demo` and `make test` need, from nothing but Python 3.11.
#   1. uv (pip-installed when missing), 2. `uv sync` -> .venv with the workspace and dev tools,
#   3. `meltano install` -> plugin venvs in .meltano/ (skipped when nothing it installs has changed).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
step() { printf '==> %s\n' "$*"; }

if command -v uv >/dev/null 2>&1; then
  UV=(uv)
elif "$PYTHON" -m uv --version >/dev/null 2>&1; then
  UV=("$PYTHON" -m uv)
else
  step "installing uv with pip ($PYTHON -m pip install uv)"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check uv
  UV=("$PYTHON" -m uv)
fi

step "uv sync (workspace venv in .venv/)"
start=$SECONDS
# Bytecode compiled now: the machines set PYTHONDONTWRITEBYTECODE, and without .pyc files every tap
# start recompiles singer-sdk and friends (0.8 s of each run).
"${UV[@]}" sync --quiet --compile-bytecode
echo "    $((SECONDS - start)) s"

# Reinstall plugins only when meltano.yml or a package's dependencies changed (taps are editable installs).
key=$(cat meltano.yml pyproject.toml ./*/*/pyproject.toml pipelines/orchestration/accounts.meltano.yml | sha256sum | cut -c1-16)
stamp=.meltano/.setup-installed
if [[ -f $stamp && $(cat "$stamp") == "$key" ]]; then
  step "meltano plugins already installed (.meltano/)"
else
  step "meltano install (taps, target-duckdb, target-jsonl, target-postgres into .meltano/)"
  start=$SECONDS
  mkdir -p output
  log=output/meltano-install.log
  if ! UV_COMPILE_BYTECODE=1 .venv/bin/meltano install >"$log" 2>&1; then
    tail -30 "$log" >&2
    echo "meltano install failed; full log: $log" >&2
    exit 1
  fi
  grep -oE "Installed [a-z]+ '[^']+'" "$log" | sed 's/^/    /' || true
  echo "$key" > "$stamp"
  echo "    $((SECONDS - start)) s"
fi
