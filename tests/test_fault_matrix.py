"""The fault matrix of issue 7: `meltano run tap-crm <loader>` against a sandbox that misbehaves mid-stream.

For each fault kind the sandbox can inject, on the paginated `/v1/tasks` path after its first page, into
DuckDB and into PostgreSQL, one of two outcomes is acceptable and asserted:

- the run succeeds, the kit having retried, and every id of every selected table is present exactly once;
- the run fails with a non-zero exit and the tap's one-line error (stream, URL, what went wrong), Meltano
  keeps the state the tap wrote after the last page it fully wrote, and the next run (faults gone, same
  system database) resumes at that page, not at offset 0, and completes: every id exactly once.

The table of outcomes is in docs/reliability.md. Outcomes only, never durations.

Why the matrix has the shape it has: our bulk loaders (target-duckdb-bulk, target-postgres-bulk) take every
fault. The stock loaders (target-duckdb, target-postgres: others' code, run here to prove the tap's
failures and resumes work with them too) take one case of each shape the tap's output can have, because
what a fault changes the loader sees only through that shape; the tap's handling of each fault (retries,
waits, the one-line error) is the same whatever loader reads its output, and the bulk columns assert it:

- a complete sync after retries (the loader gets every page, one of them late): drop-mid-body-twice,
  8 pages in flight, two retried pages;
- a failed sync with 8 pages in flight (records and states up to the failed page, then the tap exits
  non-zero; the rerun resumes one record before the resume point, so the loader must merge the overlap):
  not-json;
- the same with one page at a time, after retries: 503x4-over-the-retry-limit.

Two things about how these runs are set up, both workarounds for problems outside the taps:

- Meltano 4.4.1 crashes (`TypeError: Object of type Decimal is not JSON serializable`) on any
  environment-variable override of a `kind: decimal` setting, e.g. `TAP_CRM_BACKOFF_FACTOR=0.01`. So the
  small backoff factor (and the 1 s request timeout of the slow-response case) come from extra Meltano
  environments added to a copy of the repository's meltano.yml, where YAML numbers are not cast.
- Meltano writes a plugin's config, catalog and state files to `<sys dir>/run/<plugin>/`, which the
  `meltano_project` fixture shares between all tests, xdist workers and concurrent sessions; two runs of
  tap-crm at once can then read each other's half-written files. Each test here gets its own system
  directory whose plugin venvs are symlinks to the shared, installed ones.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import MeltanoProject, MeltanoRunner
from warehouse import duckdb_ids, postgres_ids, tap_env, target_postgres_env

from api_sandbox import Fault, run_sandbox

TAP = "tap-crm"
SCHEMA = "tap_crm"
FAULTED = "tasks"  # paginated, 20 per page, synced first
FAULTED_PATH = "/v1/tasks"
OTHER = "users"  # paginated too, synced after tasks: a failed run never reaches it
STREAMS = (FAULTED, OTHER)
# 10 pages of 20 per stream: with the default max_concurrency (8) every page in flight after the first
# holds real records, so a fault on any request after the first lands on a page the tap must write.
RECORDS = 200
KEY = "sandbox-key"

# Meltano environments added to the copy of meltano.yml (see the module docstring for why).
FAST = "faults"  # backoff 0.01 s, 0.02 s, 0.04 s instead of 2, 4, 8 s
FAST_TIMEOUT = "faults-timeout"  # the same with a 1 s request timeout
ENVIRONMENTS = {
    FAST: {"backoff_factor": 0.01, "max_retries": 3},
    FAST_TIMEOUT: {"backoff_factor": 0.01, "max_retries": 3, "request_timeout": 1},
}

# The tap's one-line error, as Meltano relays the tap's stderr: "tap-crm: stream 'tasks': GET <url>: ...".
ERROR_LINE = re.compile(
    r"tap-crm: stream 'tasks': GET http://127\.0\.0\.1:\d+/v1/tasks\?offset=(?P<offset>\d+)&limit=20"
    r":? (?P<what>.*)"
)
RETRY_LINE = re.compile(r"stream 'tasks': GET \S+: (?P<why>.+?); retry (?P<n>\d) of 3 in (?P<wait>[\d.]+) s")


@dataclass(frozen=True)
class Case:
    faults: tuple[Fault, ...]
    # Fragments of the tap's one-line error when the run must fail; empty: the run must succeed.
    fails_with: tuple[str, ...] = ()
    # What the tap's retry warnings must name, one pattern per retry (regular expressions).
    retries: tuple[str, ...] = ()
    # False: at least these retries, all matching one of the patterns (a 1 s timeout may also catch a
    # normal response on a loaded machine; retrying it is right, counting it exactly would be flaky).
    exact_retries: bool = True
    environment: str = FAST
    settings: dict[str, str] = field(default_factory=dict)
    # The least wait the tap must have chosen before each retry (a server's Retry-After), in seconds.
    min_wait: float = 0.0


def _on(path: str = FAULTED_PATH, *requests: int, **kwargs: Any) -> Fault:
    return Fault(path=path, on_requests=set(requests), **kwargs)


# One page at a time where a burst must hit the same page over and over (request n+1 on the path is
# then the retry of request n); the default concurrency (8 pages in flight) everywhere else.
ONE_PAGE_AT_A_TIME = {"max_concurrency": "1"}

CASES: dict[str, Case] = {
    "429-retry-after-seconds": Case(
        faults=(_on(FAULTED_PATH, 2, 3, 5, kind="status", status=429, retry_after="1"),),
        retries=("HTTP 429",) * 3,
        min_wait=0.9,
    ),
    "429-retry-after-http-date": Case(
        # An HTTP date 2 s ahead; dates have whole seconds, so the wait is somewhere in (1, 2] s.
        faults=(_on(FAULTED_PATH, 2, 3, kind="status", status=429, retry_after_date=2),),
        retries=("HTTP 429",) * 2,
        min_wait=0.5,
    ),
    "503x3-at-the-retry-limit": Case(
        faults=(_on(FAULTED_PATH, 2, 3, 4, kind="status", status=503),),
        retries=("HTTP 503",) * 3,
        settings=ONE_PAGE_AT_A_TIME,
    ),
    "500-502-504-mixed": Case(
        faults=(
            _on(FAULTED_PATH, 2, kind="status", status=500),
            _on(FAULTED_PATH, 3, kind="status", status=502),
            _on(FAULTED_PATH, 4, kind="status", status=504),
        ),
        retries=("HTTP 500", "HTTP 502", "HTTP 504"),
        settings=ONE_PAGE_AT_A_TIME,
    ),
    "503x4-over-the-retry-limit": Case(
        faults=(_on(FAULTED_PATH, 2, 3, 4, 5, kind="status", status=503),),
        retries=("HTTP 503",) * 3,
        fails_with=("failed after 4 attempts", "HTTP 503 Service Unavailable"),
        settings=ONE_PAGE_AT_A_TIME,
    ),
    "drop-mid-body-twice": Case(
        faults=(_on(FAULTED_PATH, 2, 3, kind="drop"),),
        retries=("ChunkedEncodingError|ConnectionError",) * 2,
    ),
    "slow-beyond-request-timeout": Case(
        faults=(_on(FAULTED_PATH, 2, kind="slow", delay_s=3.0),),
        retries=("ReadTimeout",),
        exact_retries=False,
        environment=FAST_TIMEOUT,
    ),
    "not-json": Case(
        faults=(_on(FAULTED_PATH, 2, kind="not_json"),),
        fails_with=("the response is not JSON (application/json)",),
    ),
    "html-error-page": Case(
        faults=(_on(FAULTED_PATH, 2, kind="html"),),
        fails_with=("the response is not JSON (text/html",),
    ),
    "no-selector": Case(
        faults=(_on(FAULTED_PATH, 2, kind="no_selector"),),
        fails_with=("the response has no 'data' key holding the records (found ['items'])",),
    ),
}

BULK_LOADERS = ("target-duckdb-bulk", "target-postgres-bulk")
STOCK_LOADERS = ("target-duckdb", "target-postgres")
# The stock loaders' cases: one per shape of the tap's output (see the module docstring).
STOCK_CASES = ("drop-mid-body-twice", "not-json", "503x4-over-the-retry-limit")
CELLS = [
    pytest.param(loader, case_id, id=f"{loader}-{case_id}")
    for loaders, case_ids in ((STOCK_LOADERS, STOCK_CASES), (BULK_LOADERS, tuple(CASES)))
    for loader in loaders
    for case_id in case_ids
]
# Meltano's env form of the `select` extra: only the faulted stream and one more.
SELECT = {"TAP_CRM__SELECT": json.dumps([f"{stream}.*" for stream in STREAMS])}


# --------------------------------------------------------------------------------------------------
# a Meltano project of our own: the repository's plugins, two more environments, a private run dir
# --------------------------------------------------------------------------------------------------


def _fault_matrix_yml(source: str) -> str:
    doc = yaml.safe_load(source)
    for name, config in ENVIRONMENTS.items():
        doc["environments"].append(
            {"name": name, "config": {"plugins": {"extractors": [{"name": TAP, "config": config}]}}}
        )
    return yaml.safe_dump(doc, sort_keys=False)


def _private_sys_dir(shared: Path, path: Path) -> Path:
    """A Meltano system dir whose plugin venvs are the shared, installed ones and whose run dir is not."""
    path.mkdir()
    for kind in ("extractors", "loaders"):  # installed by meltano_project; never written by a run
        (path / kind).symlink_to(shared / kind, target_is_directory=True)
    return path


@pytest.fixture(scope="module")
def fault_project(meltano_project: MeltanoProject, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """meltano.yml with the fault environments, and tap-crm's catalog discovered once for the module.

    The catalog is dumped with the `select` extra in its env form (TAP_CRM__SELECT), so Meltano marks
    only the selected streams; every run then gets it through the `catalog` extra (TAP_CRM__CATALOG)
    instead of discovering it again (Meltano applies no select rules to a catalog given that way).
    """
    root = tmp_path_factory.mktemp("fault-matrix-project")
    (root / "meltano.yml").write_text(_fault_matrix_yml((meltano_project.root / "meltano.yml").read_text()))
    sys_dir = _private_sys_dir(meltano_project.sys_dir, root.parent / f"{root.name}-sys")
    project = MeltanoProject(root, sys_dir)
    env = {"MELTANO_DATABASE_URI": f"sqlite:///{root.parent}/{root.name}-discovery.db", **SELECT}
    dumped = project.run("invoke", "--dump=catalog", TAP, env=env)
    assert dumped.returncode == 0, f"catalog discovery failed:\n{dumped.stderr[-4000:]}"
    (root / "catalog.json").write_text(dumped.stdout)
    selected = {
        stream["tap_stream_id"]
        for stream in json.loads(dumped.stdout)["streams"]
        for entry in stream["metadata"]
        if not entry["breadcrumb"] and entry["metadata"].get("selected")
    }
    assert selected == set(STREAMS), f"TAP_CRM__SELECT selected {sorted(selected)}"
    return root


@pytest.fixture
def meltano(meltano_project: MeltanoProject, fault_project: Path, tmp_path: Path) -> MeltanoRunner:
    """Like `meltano_run`: a fresh system database, DuckDB file and run dir per test."""
    root = tmp_path / "project"
    (root / "output").mkdir(parents=True)
    for name in ("meltano.yml", "catalog.json"):
        shutil.copyfile(fault_project / name, root / name)
    sys_dir = _private_sys_dir(meltano_project.sys_dir, tmp_path / "meltano-sys")
    workdir = tmp_path / "meltano-run"
    workdir.mkdir()
    return MeltanoRunner(MeltanoProject(root, sys_dir), workdir)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _output(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if "METRIC" not in line]
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-2000:]}\n--- stderr\n" + "\n".join(
        lines[-80:]
    )


def _ids_reader(loader: str, request: pytest.FixtureRequest) -> tuple[dict[str, str], Callable[[str], list]]:
    """Env for the loader and a function table -> its ids (sorted, duplicates kept)."""
    if loader.startswith("target-postgres"):
        dsn = request.getfixturevalue("pg_database")
        return target_postgres_env(dsn, loader), lambda table: postgres_ids(dsn, SCHEMA, table)
    meltano: MeltanoRunner = request.getfixturevalue("meltano")
    return {}, lambda table: duckdb_ids(meltano.duckdb_path, SCHEMA, table)


def _assert_every_id_once(sb: Any, ids_of: Callable[[str], list]) -> None:
    for table in STREAMS:
        loaded = ids_of(table)
        duplicates = sorted(i for i, n in Counter(loaded).items() if n > 1)
        assert not duplicates, f"{table}: duplicate ids {duplicates[:10]}"
        expected = sorted(sb.truth(table))
        missing = sorted(set(expected) - set(loaded))
        assert not missing, f"{table}: {len(missing)} ids missing, e.g. {missing[:10]}"
        assert loaded == expected, f"{table}: loaded ids differ from the sandbox's truth"


def _stored_state(meltano: MeltanoRunner, state_id: str) -> dict[str, Any]:
    """What `meltano state get` would print, read from the system database without starting Meltano:
    the completed state with the partial state (written by a failed run) merged over it."""
    con = sqlite3.connect(meltano.workdir / "meltano.db")
    try:
        row = con.execute(
            "SELECT completed_state, partial_state FROM state WHERE state_id = ?", (state_id,)
        ).fetchone()
    finally:
        con.close()
    assert row is not None, f"Meltano stored no state under {state_id}"
    completed, partial = (json.loads(x) if x else {} for x in row)
    bookmarks = dict(completed.get("singer_state", {}).get("bookmarks", {}))
    bookmarks.update(partial.get("singer_state", {}).get("bookmarks", {}))
    return {"singer_state": {"bookmarks": bookmarks}}


def _resume_offset(state: dict[str, Any], stream: str) -> int | None:
    bookmark = state.get("singer_state", {}).get("bookmarks", {}).get(stream, {})
    resume = bookmark.get("resume")
    return None if resume is None else resume.get("offset")


def _retries_match(whys: list[str], case: Case) -> bool:
    """Each retry the tap announced pairs off with one expected pattern; exactly, or at least."""
    left = list(case.retries)
    for why in whys:
        hit = next((p for p in left if re.fullmatch(p, why)), None)
        if hit is not None:
            left.remove(hit)
        elif case.exact_retries or not any(re.fullmatch(p, why) for p in case.retries):
            return False
    return not left


def _first_offset(log: list[dict[str, Any]], path: str) -> int:
    return next(int(entry["query"]["offset"]) for entry in log if entry["path"] == path)


# --------------------------------------------------------------------------------------------------
# the matrix
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("loader", "case_id"), CELLS)
def test_fault_matrix(
    loader: str, case_id: str, meltano: MeltanoRunner, request: pytest.FixtureRequest
) -> None:
    case = CASES[case_id]
    loader_env, ids_of = _ids_reader(loader, request)
    state_id = f"{case.environment}:{TAP}-to-{loader}"

    with run_sandbox("crm", records=RECORDS, seed=7, faults=case.faults) as sb:
        env = {
            **tap_env("crm", sb.base_url, KEY, **case.settings),
            **loader_env,
            "MELTANO_ENVIRONMENT": case.environment,
            "TAP_CRM__CATALOG": "catalog.json",  # selection applied (see fault_project)
        }
        first = meltano("run", TAP, loader, env=env)
        log = sb.request_log()
        text = first.stdout + first.stderr

        # (a slow response is logged when its delay is over, maybe after the run: the retry says it fired)
        fired = [e for e in log if e["fault"] is not None]
        assert {e["path"] for e in fired} <= {FAULTED_PATH}
        assert KEY not in text, "the API key must never be logged"

        # Every retry the case provokes is announced by the kit, with the server's Retry-After honoured.
        retries = [m for m in map(RETRY_LINE.search, first.stderr.splitlines()) if m]
        assert _retries_match([m["why"] for m in retries], case), _output(first)
        assert fired or retries, f"no fault fired: the case tests nothing\n{_output(first)}"
        assert all(float(m["wait"]) >= case.min_wait for m in retries), _output(first)
        if case.min_wait == 0:  # backoff_factor 0.01 from the Meltano environment is in effect
            assert all(float(m["wait"]) < 0.5 for m in retries), _output(first)

        if not case.fails_with:
            assert first.returncode == 0, _output(first)
            # The selection (TAP_CRM__SELECT) held: only the two selected streams were requested.
            assert {e["path"] for e in log} == {FAULTED_PATH, f"/v1/{OTHER}"}
            _assert_every_id_once(sb, ids_of)
            assert _resume_offset(_stored_state(meltano, state_id), FAULTED) is None
            # For docs/reliability.md (shown by `pytest -rP`).
            print(f"OUTCOME {loader} {case_id}: exit 0 after retries {[m['why'] for m in retries]}")
            return

        # The run fails: non-zero exit, the tap's one line naming stream, URL and cause.
        assert first.returncode != 0, _output(first)
        errors = [m for m in map(ERROR_LINE.search, first.stderr.splitlines()) if m]
        assert errors, f"no one-line error from the tap\n{_output(first)}"
        failed_at = int(errors[0]["offset"])
        for fragment in case.fails_with:
            assert fragment in errors[0]["what"], errors[0].group(0)
        assert failed_at > 0, "the fault is meant to hit a page after the first"
        assert "Extractor failed" in first.stderr, _output(first)
        assert "Traceback" not in first.stderr, "the one line should say it all"
        assert {e["path"] for e in log} == {FAULTED_PATH}, "the failed stream must end the run"
        # Meltano kept the tap's last STATE: the resume point after the last page fully written.
        stored = _resume_offset(_stored_state(meltano, state_id), FAULTED)
        assert stored is not None and stored > 0, f"no resume point in Meltano's state: {stored}"

        # The next run: faults gone, same system database. It resumes at the failed page, completes.
        sb.clear_faults()
        seen = len(log)
        second = meltano("run", TAP, loader, env=env)
        assert second.returncode == 0, _output(second)
        rerun_log = sb.request_log()[seen:]
        # It starts with the very request that failed (the kit asks for a page from one record before
        # the resume point, to check the data did not move), not at offset 0.
        assert _first_offset(rerun_log, FAULTED_PATH) == failed_at, "the rerun did not resume"
        assert _first_offset(rerun_log, f"/v1/{OTHER}") == 0
        assert f"stream '{FAULTED}': resuming at offset={stored}" in second.stderr, _output(second)
        _assert_every_id_once(sb, ids_of)
        assert _resume_offset(_stored_state(meltano, state_id), FAULTED) is None, "resume state not cleared"
        print(
            f"OUTCOME {loader} {case_id}: exit {first.returncode}, {errors[0].group(0)!r}; stored resume "
            f"offset {stored}; rerun exit 0, first request at offset {failed_at}"
        )
