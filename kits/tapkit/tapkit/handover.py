"""How a tap hands its records to the loader: RECORD lines, or BATCH files when ``meltano run`` pipes it
straight into one of this repository's bulk loaders (``batch_auto``, on by default).

Meltano reads every line a tap writes and writes it again to the loader from its own process (7.5-7.9 s of
Meltano's CPU for 1,000,000 rows, 2.1-2.6 s when they go as BATCH files). Meltano tells a tap nothing
about its loader: the loader's block is set up after the tap's has started, so a tap's config cannot
refer to the loader's settings (``$MELTANO_LOAD_*`` is unset in the tap's environment). What the tap can
see is the process Meltano starts next to it, from the same ``meltano`` process, right after it: the next
block of the pipeline. When that is ``target-duckdb-bulk`` or ``target-postgres-bulk`` (which load BATCH
files with the database's own reader), the tap writes JSON Lines BATCH files; anything else (another
target, a mapper, ``meltano invoke``, a shell pipe, a system without ``/proc``) gets RECORD lines.

The files go to a private folder per run, ``<Meltano's system dir>/run/batch/<run>/`` (0700, files 0600:
the tap runs with umask 077), which the loader empties as it commits each file. A run killed mid-sync
leaves its files behind, never to be loaded: the next run resumes from the STATE of the last file
committed and writes new files in a new folder. Each folder is named after the ``meltano`` process that
ran it (its pid and start time); a later run removes the folders of ``meltano`` processes that no longer
exist.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
import typing as t
import uuid
from pathlib import Path

# This repository's loaders that load BATCH files (JSON Lines, gzip or none) without parsing them in Python.
BULK_LOADERS = frozenset({"target-duckdb-bulk", "target-postgres-bulk"})
# Meltano commands that pipe a tap into the next block.
PIPELINE_COMMANDS = frozenset({"run", "el", "elt"})
# Rows per BATCH file: at 1,000,000 rows target-duckdb-bulk peaked at 301 MB with files of 100,000, at
# 216 MB with 25,000 (the same CPU; 10,000 cost 12% more); STATE then follows every 25,000 rows.
ROWS_PER_FILE = 25_000
WAIT_FOR_NEXT_BLOCK = 10.0  # seconds; Meltano starts the next block right after the tap (~0.1 s here)
PROC = Path("/proc")


@functools.cache
def for_this_run() -> dict | None:
    """:func:`auto_batch_config`, decided once per process (each stream of the sync asks)."""
    return auto_batch_config()


def auto_batch_config(environ: t.Mapping[str, str] | None = None) -> dict | None:
    """The ``batch_config`` for this run when ``meltano run`` pipes this tap straight into a bulk
    loader, its folder created; None otherwise (RECORD lines)."""
    env = os.environ if environ is None else environ
    sys_dir = env.get("MELTANO_SYS_DIR_ROOT")
    if not env.get("MELTANO_EXTRACTOR_NAME") or not sys_dir:
        return None  # not run by Meltano
    parent = os.getppid()
    argv = _cmdline(parent)
    if not argv or not PIPELINE_COMMANDS.intersection(argv) or not _is_meltano(argv):
        return None
    me = _stat(os.getpid())
    if me is None:
        return None
    loader = _next_block(parent, os.getpid(), me[1])
    if loader not in BULK_LOADERS:
        return None
    root = Path(sys_dir) / "run" / "batch"
    started = _stat(parent)
    prune(root)
    folder = root / f"{parent}-{started[1] if started else 0}-{uuid.uuid4().hex[:12]}"
    folder.mkdir(mode=0o700, parents=True)
    os.chmod(folder, 0o700)  # whatever the umask
    return {
        "encoding": {"format": "jsonl", "compression": "none"},
        "storage": {"root": folder.as_uri()},
        "batch_size": ROWS_PER_FILE,
    }


def prune(root: Path) -> None:
    """Remove the run folders of ``meltano`` processes that no longer exist (runs killed before their
    loader emptied them). A folder whose process lives (a run going on) is left alone."""
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for entry in entries:
        pid, _, rest = entry.name.partition("-")
        started, _, _ = rest.partition("-")
        if not (pid.isdigit() and started.isdigit()):
            continue
        now = _stat(int(pid))
        if now is not None and now[1] == int(started):
            continue  # the run is still going
        shutil.rmtree(entry, ignore_errors=True)


def _next_block(parent: int, me: int, my_start: int) -> str | None:
    """The executable name of the first process ``parent`` started after this one (the pipeline's next
    block), waiting for it a while; None when there is none."""
    deadline = time.monotonic() + WAIT_FOR_NEXT_BLOCK
    while True:
        later = []
        for entry in PROC.iterdir():
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            stat = _stat(int(entry.name))
            if stat is not None and stat[0] == parent and stat[1] >= my_start:
                later.append((stat[1], int(entry.name)))
        if later:
            argv = _cmdline(min(later)[1]) or []
            # A console script runs as `python /venv/bin/target-x ...`: its name is the first or second word.
            names = [Path(word).name for word in argv[:2]]
            return next((name for name in names if name in BULK_LOADERS), names[-1] if names else None)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def _is_meltano(argv: list[str]) -> bool:
    return any(Path(word).name == "meltano" for word in argv[:3])


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return [word.decode(errors="replace") for word in raw.split(b"\0") if word]


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks since boot) of process ``pid``; None if it is gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()  # after "pid (comm) ": the name may hold spaces
    try:
        return int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return None
