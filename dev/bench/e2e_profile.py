"""Where the time of ``meltano run tap-projects <loader>`` goes (run by hand, not part of ``make bench``).

``PYTHONPATH=dev python -m bench.e2e_profile --records 200000 --loader target-duckdb-bulk [--runs 2]``

Starts the projects sandbox in its own process, runs the tap alone to /dev/null, then the pipeline
through Meltano (the same throwaway project and catalog as benchmark 4), and samples every process of
the run (the ``meltano`` process, the tap, the loader, anything they start) and the sandbox every 50 ms
from ``/proc``: CPU seconds per process, and a timeline of each one's CPU share per second. The
loader's own log lines ("loaded N rows", with the time Meltano logged them) give each load's end.
Every run's load is checked against the sandbox's truth by count.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from api_sandbox.launcher import SandboxProcess
from bench import meltano_project
from bench.e2e import RESOURCES, fresh_database, loaded_ids, pg_env, postgres_loaded_ids, postgres_server
from bench.procs import API_KEY, child_env, run_child, venv_script
from bench.systems import write_config

TICK = os.sysconf("SC_CLK_TCK")
ROLES = ("tap", "loader", "meltano", "sandbox", "postgres", "other")


def _role(argv: list[str], sandbox: int, pid: int) -> str:
    if pid == sandbox:
        return "sandbox"
    if argv[0].startswith("postgres"):
        return "postgres"
    names = [Path(w).name for w in argv[:3]]
    if any(n.startswith("tap-") for n in names):
        return "tap"
    if any(n.startswith("target-") for n in names):
        return "loader"
    if any(n == "meltano" for n in names):
        return "meltano"
    return "other"


class Sampler:
    """CPU seconds (user + system) of every process in session ``sid`` and of the sandbox, every 50 ms."""

    def __init__(self, sid: int, sandbox: int, postmaster: int = -1) -> None:
        self.sid, self.sandbox, self.postmaster = sid, sandbox, postmaster
        self.cpu: dict[int, float] = {}
        # CPU at the start of the run (the sandbox's); the database server's backends the run opens
        # (children of `postmaster`) count from 0
        self.base: dict[int, float] = {}
        self.role: dict[int, str] = {}
        self.peak: dict[str, float] = {}  # role -> the highest VmHWM (MB) of one of its processes
        self.samples: list[tuple[float, dict[str, float]]] = []  # (time, role -> cpu so far)
        self.started = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(0.05):
                self._sample()
                return

    def _sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                raw = (entry / "stat").read_bytes()
                fields = raw[raw.rfind(b")") + 2 :].split()
                if int(fields[3]) != self.sid and pid != self.sandbox and b"(postgres)" not in raw:
                    continue
                cpu = (int(fields[11]) + int(fields[12])) / TICK
                if pid not in self.role:
                    argv = [w.decode() for w in (entry / "cmdline").read_bytes().split(b"\0") if w]
                    if not argv:
                        continue
                    # (a new backend's command line may still be the server's: its name says postgres)
                    self.role[pid] = "postgres" if b"(postgres)" in raw else _role(argv, self.sandbox, pid)
            except (OSError, IndexError, ValueError):
                continue
            if b"(postgres)" in raw and int(fields[1]) != self.postmaster:
                continue  # another server's, or our server's own background processes
            if pid not in self.base:  # the sandbox counts from the start of the run
                self.base[pid] = cpu if pid == self.sandbox else 0.0
            self.cpu[pid] = cpu
            role = self.role[pid]
            if role in {"tap", "loader"}:
                with contextlib.suppress(OSError, ValueError):
                    status = (entry / "status").read_text().splitlines()
                    hwm = next((x for x in status if x.startswith("VmHWM:")), None)  # (none once a zombie)
                    if hwm is not None:
                        self.peak[role] = max(self.peak.get(role, 0.0), int(hwm.split()[1]) / 1024)
        totals: dict[str, float] = defaultdict(float)
        for pid, cpu in self.cpu.items():
            totals[self.role[pid]] += cpu - self.base.get(pid, 0.0)
        self.samples.append((time.perf_counter() - self.started, dict(totals)))

    def totals(self) -> dict[str, float]:
        return self.samples[-1][1] if self.samples else {}

    def timeline(self, step: float = 1.0) -> list[tuple[float, dict[str, float]]]:
        """(start of the step, role -> share of one core used in it)."""
        out = []
        t0, prev = 0.0, self.samples[0][1] if self.samples else {}
        i = 0
        while i < len(self.samples):
            while i < len(self.samples) and self.samples[i][0] < t0 + step:
                i += 1
            now = self.samples[min(i, len(self.samples) - 1)][1]
            out.append((t0, {r: (now.get(r, 0.0) - prev.get(r, 0.0)) / step for r in ROLES}))
            prev, t0 = now, t0 + step
        return out


def _postmaster(dsn: str | None) -> int:
    """The pid of the server process that starts the backends of ``dsn``'s server (-1: none)."""
    if not dsn:
        return -1
    import psycopg2

    con = psycopg2.connect(dsn)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            backend = cur.fetchone()[0]
        raw = Path(f"/proc/{backend}/stat").read_bytes()
        return int(raw[raw.rfind(b")") + 2 :].split()[1])
    finally:
        con.close()


_LOADED = re.compile(r"loaded (\d+) rows into (\S+)")


def run_pipeline(
    args: argparse.Namespace,
    loader: str,
    lines: bool,
    project: meltano_project.MeltanoProject,
    base_url: str,
    catalog: Path,
    sandbox_pid: int,
    workdir: Path,
    pg_dsn: str | None,
    expected: int,
) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "meltano.duckdb"
    env = {
        "TAP_PROJECTS__CATALOG": str(catalog),
        **project.env,
        "MELTANO_DATABASE_URI": f"sqlite:///{workdir}/meltano.db",
        f"{loader.upper().replace('-', '_')}_FILEPATH": str(db),
        "TAP_PROJECTS_BASE_URL": base_url,
        "TAP_PROJECTS_API_KEY": API_KEY,
        **({"TAP_PROJECTS_BATCH_AUTO": "false"} if lines else {}),
        **(pg_env(pg_dsn) if pg_dsn else {}),
    }
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    argv = [venv_script("meltano"), "run", "tap-projects", loader]
    err_path = workdir / "meltano.err"
    with open(err_path, "wb") as err, open(workdir / "meltano.out", "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=project.root,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        with Sampler(proc.pid, sandbox_pid, _postmaster(pg_dsn)) as sampler:
            sampler.started = started
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"meltano run failed:\n{err_path.read_text()[-3000:]}")
    if loader == "target-postgres-bulk":
        assert pg_dsn is not None
        loaded = postgres_loaded_ids(pg_dsn, "tap_projects", list(RESOURCES))
    else:
        loaded = loaded_ids(db, "tap_projects", list(RESOURCES))
    got = sum(map(len, loaded.values()))
    distinct = sum(len(set(map(str, v))) for v in loaded.values())
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rows": got,
        "distinct": distinct,
        "ok": got == expected == distinct,
        "sampler": sampler,
        "log": err_path.read_text(errors="replace"),
    }


def report(i: int, loader: str, lines: bool, r: dict, args: argparse.Namespace) -> None:
    totals = r["sampler"].totals()
    cpu = ", ".join(f"{role} {totals.get(role, 0.0):.2f}" for role in ROLES if totals.get(role))
    peaks = ", ".join(f"{role} {mb:.0f}" for role, mb in sorted(r["sampler"].peak.items()))
    how = "RECORD lines" if lines else "BATCH files"
    loads = [line for line in r["log"].splitlines() if _LOADED.search(line)]
    print(
        f"run {i} {loader}, {how}: wall {r['wall']:.2f} s, rows {r['rows']:,}{'' if r['ok'] else ' WRONG'}, "
        f"{len(loads)} loads, load {os.getloadavg()[0]:.2f}; CPU s: {cpu}; peak RSS MB: {peaks}",
        flush=True,
    )
    if args.loads:
        for line in loads:
            print("   ", line[:200])
    if args.timeline:
        for t0, shares in r["sampler"].timeline():
            bars = "  ".join(f"{role[:3]} {shares[role]:4.2f}" for role in ROLES[:5])
            print(f"  {t0:5.1f}s  {bars}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="records per resource (5 resources)")
    parser.add_argument(
        "--loader",
        action="append",
        help="target-duckdb-bulk (default), target-postgres-bulk; "
        "repeatable: the pipelines take turns in each run",
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--record-lines",
        action="store_true",
        help="also each pipeline with RECORD lines (batch_auto false), after its run with BATCH files",
    )
    parser.add_argument("--no-tap", action="store_true", help="skip the tap alone")
    parser.add_argument("--timeline", action="store_true", help="print each second's CPU per process")
    parser.add_argument("--loads", action="store_true", help="print the loader's load lines")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for meltano's environment")
    args = parser.parse_args()
    loaders = args.loader or ["target-duckdb-bulk"]
    tmp = Path(tempfile.mkdtemp(prefix="e2e-profile-"))
    project = meltano_project.create(tmp / "meltano-project", base_env=child_env())
    if not project.installed():
        print("meltano install (once, not timed) ...", file=sys.stderr)
        project.install()
    n = args.records
    expected = n * len(RESOURCES)
    with (
        SandboxProcess("projects", records=n) as sb,
        postgres_server("target-postgres-bulk" not in loaders) as pg,
    ):
        cfg = write_config(tmp, "tap", base_url=sb.base_url)
        tap_argv = [venv_script("tap-projects"), "--config", str(cfg)]
        catalog = tmp / "catalog.json"
        run_child([*tap_argv, "--discover"], stdout=catalog).check("tap-projects --discover")
        for i in range(1, args.runs + 1):
            if not args.no_tap:
                tap = run_child(tap_argv)
                tap.check("tap alone")
                print(
                    f"run {i} tap alone: wall {tap.wall:.2f} s, cpu {tap.cpu:.2f} s, "
                    f"rss {tap.max_rss_mb:.0f} MB, "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            for loader in loaders:
                for lines in (False, True) if args.record_lines else (False,):
                    work = tmp / f"run-{i}-{loader}-{'lines' if lines else 'batch'}"
                    with contextlib.ExitStack() as stack:
                        dsn = None
                        if loader == "target-postgres-bulk":
                            assert pg is not None
                            dsn = stack.enter_context(fresh_database(pg, f"e2e_profile_{os.getpid()}_{i}"))
                        r = run_pipeline(
                            args, loader, lines, project, sb.base_url, catalog, sb.pid, work, dsn, expected
                        )
                    report(i, loader, lines, r, args)
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
