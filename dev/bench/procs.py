"""Child processes: their environment, and measured runs (wall time and peak RSS of one child)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
API_KEY = "sandbox-key"


def venv_script(name: str) -> str:
    """A console script of this environment (beside the interpreter), else from PATH."""
    found = VENV_BIN / name
    if found.exists():
        return str(found)
    return shutil.which(name) or name


def clean_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """``base`` (default: this process's environment) with this environment's scripts first on PATH and
    without a developer's own tap, target, dlt source or Meltano settings, which must not leak into a
    measurement or a test; then ``extra``."""
    env = dict(os.environ if base is None else base)
    if not env.get("PATH", "").startswith(f"{VENV_BIN}{os.pathsep}"):
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    for key in list(env):
        if key.startswith(("TAP_", "TARGET_", "SOURCES__")) or key in {
            "MELTANO_ENVIRONMENT",
            "MELTANO_DATABASE_URI",
        }:
            del env[key]
    env.update(extra)
    return env


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a measured child: :func:`clean_env`, the repository importable, no telemetry."""
    env = clean_env(PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    env.update(extra)
    return env


@dataclass
class ChildRun:
    wall: float  # seconds from spawn to exit: interpreter start-up and imports included
    returncode: int
    max_rss_mb: float  # peak resident set size of this child alone (wait4's rusage)
    stderr: str
    cpu: float = 0.0  # user and system CPU seconds of the child and the children it waited for

    def check(self, what: str) -> None:
        if self.returncode != 0:
            raise RuntimeError(f"{what} exited {self.returncode}:\n{self.stderr[-3000:]}")


def run_child(
    argv: list[str],
    *,
    stdout: str | os.PathLike[str] = os.devnull,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] = REPO,
    timeout: float = 1800,
    stdin: t.IO[bytes] | None = None,
) -> ChildRun:
    """Run one child to its end, through ``bench.rss``: the wall time and peak RSS are those of exactly
    that child (spawned by this process, a child's ``ru_maxrss`` would start at this process's own peak,
    which grows as results are checked; and the wrapper's own start is not timed)."""
    wrapped = [sys.executable, str(Path(__file__).with_name("rss.py")), "--", *argv]
    with tempfile.TemporaryFile() as err, open(stdout, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            wrapped,
            stdin=stdin or subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env or child_env(),
            cwd=cwd,
            start_new_session=True,
        )
        killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, 9))
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    rss_mb = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    head, _, last = text.rstrip("\n").rpartition("\n")
    if last.startswith("peak-rss-kb "):
        fields = last.split()
        rss_mb, wall, cpu, text = int(fields[1]) / 1024, float(fields[3]), float(fields[5]), head
    return ChildRun(wall, proc.returncode, rss_mb, text, cpu)


def record_count_metric(stderr: str, stream: str) -> int:
    """Records the tap itself reported (singer-sdk's record_count counters are increments)."""
    total = 0
    for line in stderr.splitlines():
        if '"metric":"record_count"' not in line.replace(" ", ""):
            continue
        metric = json.loads(line[line.index("{") :])
        if metric.get("tags", {}).get("stream") == stream:
            total += int(metric["value"])
    return total


def reported_records(stderr: str) -> int:
    """``records N``, the last line of that form a bench helper wrote to stderr."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("records "):
            return int(line.split()[1])
    return -1


def reported_pages(stderr: str) -> int:
    """``pages P`` of the last ``records N pages P`` line a raw loop wrote to stderr (-1: none)."""
    for line in reversed(stderr.splitlines()):
        fields = line.split()
        if line.startswith("records ") and len(fields) == 4 and fields[2] == "pages":
            return int(fields[3])
    return -1


def singer_record_ids(path: str | os.PathLike[str], stream: str) -> list:
    """Ids of every RECORD message of ``stream`` in a Singer output file."""
    import orjson

    ids = []
    with open(path, "rb") as f:
        for line in f:
            if b'"RECORD"' not in line:
                continue
            message = orjson.loads(line)
            if message.get("type") == "RECORD" and message.get("stream") == stream:
                ids.append(message["record"]["id"])
    return ids
