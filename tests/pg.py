"""A throwaway PostgreSQL server for tests and CI: initdb in a temp dir, start on a free loopback port.

PostgreSQL refuses to run as root, so when we are root the server runs as the `postgres` user (created by
Debian's package) and the data directory is handed to it. MeltanoLabs target-postgres insists on a
password even with trust auth, so the superuser gets one and the DSN carries it.

Why not a library: pytest-postgresql 10.0 and testing.postgresql 1.3 were tried as root with Debian's
PostgreSQL 15 binaries; both run initdb as the calling user and stop at "initdb: cannot be run as root",
and neither can run the server as another OS user (pytest-postgresql's `user` is the database role).

Used three ways:
- `python tests/pg.py start DIR` prints a DSN and leaves the server running (`.ci/run` exports it as
  TEST_PG_DSN); `python tests/pg.py stop DIR` stops it.
- `LocalPostgres` as a context manager (the `postgres` fixture, when TEST_PG_DSN is not set).
- `find_pg_bin()` tells whether the binaries are here at all.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PASSWORD = "postgres"
SUPERUSER = "postgres"


def find_pg_bin() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None."""
    explicit = os.environ.get("PG_BIN")
    candidates = [Path(explicit)] if explicit else []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    candidates += [Path(p) for p in versions]
    for directory in candidates:
        if all((directory / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _demote() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, when we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError(
            "running as root and no 'postgres' user exists: PostgreSQL refuses to run as root "
            "(apt-get install postgresql creates that user)"
        ) from exc
    return entry.pw_uid, entry.pw_gid


def dsn_for(port: int, database: str = "postgres") -> str:
    return f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{port}/{database}"


class LocalPostgres:
    """A PostgreSQL cluster in `datadir`, listening on 127.0.0.1:`port`."""

    def __init__(self, datadir: str | os.PathLike[str] | None = None, port: int | None = None):
        found = find_pg_bin()
        if found is None:
            raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl, postgres) not found")
        self.bin: Path = found
        self._owns_dir = datadir is None
        self.datadir = Path(datadir or tempfile.mkdtemp(prefix="pgtest-"))
        self.port = port or free_port()
        self.ids = _demote()

    @property
    def dsn(self) -> str:
        return dsn_for(self.port)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        kwargs: dict = {}
        if self.ids is not None:
            uid, gid = self.ids

            def preexec() -> None:  # runs in the child, before exec
                os.setgid(gid)
                os.setuid(uid)

            kwargs["preexec_fn"] = preexec
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            check=False,
            cwd=str(self.datadir),
            env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
            **kwargs,
        )

    def start(self) -> str:
        self.datadir.mkdir(parents=True, exist_ok=True)
        pgdata = self.datadir / "data"
        pwfile = self.datadir / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self.ids is not None:
            for path in (self.datadir, pwfile):
                os.chown(path, *self.ids)
        if not (pgdata / "PG_VERSION").exists():
            r = self._run(
                "initdb", "-D", str(pgdata), "-U", SUPERUSER, "--auth=trust",
                f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync",
            )  # fmt: skip
            if r.returncode != 0:
                raise RuntimeError(f"initdb failed:\n{r.stdout}\n{r.stderr}")
        # Durability is irrelevant for a test cluster; speed is not.
        options = (
            f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        r = self._run("pg_ctl", "-D", str(pgdata), "-l", str(self.datadir / "server.log"),
                      "-o", options, "-w", "-t", "60", "start")  # fmt: skip
        if r.returncode != 0:
            log = (
                (self.datadir / "server.log").read_text(errors="replace")
                if (self.datadir / "server.log").exists()
                else ""
            )
            raise RuntimeError(f"pg_ctl start failed:\n{r.stdout}\n{r.stderr}\n{log}")
        (self.datadir / "port").write_text(str(self.port))
        wait_ready(self.dsn)
        return self.dsn

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir / "data"), "-m", "fast", "-w", "stop")
        if self._owns_dir:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_ready(dsn: str, timeout: float = 30.0) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg2.connect(dsn, connect_timeout=2).close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def create_database(dsn: str, name: str) -> str:
    """Create database `name` on the server of `dsn` (dropping an old one); return its DSN."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return dsn.rsplit("/", 1)[0] + "/" + name


def drop_database(dsn: str, name: str) -> None:
    """Drop database `name` on the server of `dsn`, whoever is still connected (PostgreSQL 13+)."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"start", "stop", "bin"} or (argv[0] != "bin" and len(argv) < 2):
        print("usage: pg.py start DIR [PORT] | stop DIR | bin", file=sys.stderr)
        return 2
    if argv[0] == "bin":
        found = find_pg_bin()
        print(found or "")
        return 0 if found else 1
    datadir = Path(argv[1]).resolve()
    if argv[0] == "start":
        server = LocalPostgres(datadir, int(argv[2]) if len(argv) > 2 else None)
        print(server.start())
        return 0
    port = int((datadir / "port").read_text()) if (datadir / "port").exists() else 0
    LocalPostgres(datadir, port or None).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
