"""8. The fixed cost of ``meltano run tap-projects target-duckdb-bulk``, broken down: what a sync of 1 record
a resource spends before and after the records, each part a child timed on its own (wall from spawn to
exit, and the CPU of the child and its children), in rounds so drifting load hits the parts alike.

The parts: the interpreter's start, ``import meltano.cli``, Meltano's start-up (``--version``), Meltano with
the project and its system database (``state list``, with and without the accounts include file), a state
read and a state write, a plugin venv's interpreter, the tap's and the loader's imports, the tap's
``--discover``, the tap and the loader alone, and the whole ``meltano run`` with the catalog given and
without it (Meltano discovers first). The derived rows say what Meltano itself adds, and the tap's import
is broken down by ``python -X importtime`` (self time per top-level package).

The Meltano project is the end-to-end benchmark's (dev/bench/meltano_project.py, the same plugin cache);
the accounts include file is copied in for the rows that load the project as the repository's does.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from api_sandbox.launcher import SandboxProcess
from bench import meltano_project
from bench.meltano_project import MeltanoProject
from bench.procs import API_KEY, REPO, ChildRun, child_env, run_child
from bench.results import Report, Row, log, wall_text

INCLUDE = "pipelines/orchestration/accounts.meltano.yml"
STATE_ID = "dev:tap-projects-to-target-duckdb-bulk"


@dataclass
class Part:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    cwd: Path = REPO
    stdin: Path | None = None
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    def run(self) -> ChildRun:
        if self.stdin is None:
            return run_child(self.argv, env=self.env, cwd=self.cwd)
        with open(self.stdin, "rb") as f:
            return run_child(self.argv, env=self.env, cwd=self.cwd, stdin=f)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)


def import_breakdown(stderr: str, top: int = 8) -> list[tuple[str, float]]:
    """``python -X importtime`` output as (top-level package, self seconds), the largest ``top`` first."""
    per: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line[len("import time:") :].split("|", 2)
        package = name.strip().split(".", 1)[0]
        per[package] = per.get(package, 0.0) + int(self_us) / 1e6
    return sorted(per.items(), key=lambda kv: -kv[1])[:top]


def _plugin(project: MeltanoProject, kind: str, name: str, program: str) -> str:
    return str(project.sys_dir / kind / name / "venv" / "bin" / program)


def bench_fixed_cost(report: Report, runs: int, tmp: Path, small: bool) -> None:
    benchmark = "8. fixed cost of meltano run tap-projects target-duckdb-bulk, 1 record a resource"
    log(benchmark)
    bare = meltano_project.create(tmp / "fixed-project", base_env=child_env())
    if not bare.installed():
        if small:
            why = f"plugins not installed in {meltano_project.SYS_DIR} (make test or a full bench does it)"
            report.rows.append(Row(benchmark, "meltano run", "n/a", "n/a", f"n/a ({why})"))
            return
        log(f"  meltano install into {meltano_project.SYS_DIR} (once, not timed) ...")
        bare.install()
    # The repository's project loads the accounts include file; the bench's throwaway project has no such
    # file at that relative path (Meltano skips a missing include silently) unless it is copied in.
    full = meltano_project.create(tmp / "fixed-project-include", base_env=child_env())
    (full.root / INCLUDE).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / INCLUDE, full.root / INCLUDE)
    tap_py = _plugin(full, "extractors", "tap-projects", "python")
    loader_py = _plugin(full, "loaders", "target-duckdb-bulk", "python")
    tap = _plugin(full, "extractors", "tap-projects", "tap-projects")
    loader = _plugin(full, "loaders", "target-duckdb-bulk", "target-duckdb-bulk")
    meltano = meltano_project.MELTANO
    with SandboxProcess("projects", records=1) as sb:
        cfg = tmp / "fixed-tap.json"
        cfg.write_text(json.dumps({"api_key": API_KEY, "base_url": sb.base_url}))
        catalog = tmp / "fixed-catalog.json"
        run_child([tap, "--config", str(cfg), "--discover"], stdout=catalog).check("tap-projects --discover")
        tap_out = tmp / "fixed-tap.out"
        run_child([tap, "--config", str(cfg), "--catalog", str(catalog)], stdout=tap_out).check(
            "tap-projects"
        )
        loader_cfg = tmp / "fixed-loader.json"
        loader_cfg.write_text(json.dumps({"filepath": str(tmp / "fixed-loader.duckdb")}))

        def menv(project: MeltanoProject, with_catalog: bool) -> dict[str, str]:
            return {
                **project.env,
                **({"TAP_PROJECTS__CATALOG": str(catalog)} if with_catalog else {}),
                "MELTANO_DATABASE_URI": f"sqlite:///{tmp}/fixed-meltano.db",
                "TARGET_DUCKDB_BULK_FILEPATH": str(tmp / "fixed-meltano.duckdb"),
                "TAP_PROJECTS_BASE_URL": sb.base_url,
                "TAP_PROJECTS_API_KEY": API_KEY,
            }

        state = json.dumps({"singer_state": {"bookmarks": {}}})
        env, plain = menv(full, True), menv(bare, True)
        # A state to read, and the system database migrated, before anything is timed.
        full.run("state", "set", "--force", STATE_ID, state, env=env).check_returncode()
        py = sys.executable
        run_argv = [meltano, "run", "tap-projects", "target-duckdb-bulk"]
        start = Part("interpreter start (python -c pass)", [py, "-c", "pass"])
        imports = Part("import meltano.cli", [py, "-c", "import meltano.cli"])
        listed = Part(
            "meltano state list: + the project and its system database",
            [meltano, "state", "list"],
            env,
            full.root,
        )
        bare_listed = Part(
            "the same without the accounts include file", [meltano, "state", "list"], plain, bare.root
        )
        read = Part("meltano state get: a state read", [meltano, "state", "get", STATE_ID], env, full.root)
        write = Part(
            "meltano state set: a state write",
            [meltano, "state", "set", "--force", STATE_ID, state],
            env,
            full.root,
        )
        tap_alone = Part(
            "tap-projects, catalog given, to /dev/null",
            [tap, "--config", str(cfg), "--catalog", str(catalog)],
        )
        loader_alone = Part(
            "target-duckdb-bulk over the tap's output", [loader, "--config", str(loader_cfg)], stdin=tap_out
        )
        run_ = Part("meltano run, catalog given", run_argv, env, full.root)
        discovering = Part(
            "meltano run, no catalog (Meltano discovers first)", run_argv, menv(full, False), full.root
        )
        parts = [
            start,
            imports,
            Part("meltano --version: Meltano's start-up", [meltano, "--version"], env, full.root),
            listed,
            bare_listed,
            read,
            write,
            Part("plugin venv start (tap-projects' python -c pass)", [tap_py, "-c", "pass"]),
            Part("import tap_projects.tap (its venv)", [tap_py, "-c", "import tap_projects.tap"]),
            Part(
                "import target_duckdb_bulk.target (its venv)",
                [loader_py, "-c", "import target_duckdb_bulk.target"],
            ),
            Part("tap-projects --discover", [tap, "--config", str(cfg), "--discover"]),
            tap_alone,
            loader_alone,
            run_,
            discovering,
        ]
        for i in range(1, runs + 1):
            for part in parts:
                result = part.run()
                result.check(f"{benchmark}: {part.name}")
                part.walls.append(result.wall)
                part.cpus.append(result.cpu)
                log(f"  {part.name:<60} run {i:<3} {result.wall:6.2f} s wall {result.cpu:6.2f} s CPU")
        tap_imports = run_child([tap_py, "-X", "importtime", "-c", "import tap_projects.tap"])
        tap_imports.check("python -X importtime -c 'import tap_projects.tap'")
        meltano_imports = run_child([py, "-X", "importtime", "-c", "import meltano.cli"])
        meltano_imports.check("python -X importtime -c 'import meltano.cli'")
    for part in parts:
        report.rows.append(
            Row(benchmark, part.name, wall=wall_text(part.walls), figure=f"CPU {part.cpu:.2f} s")
        )

    def gap(a: Part, b: Part) -> str:
        return f"{a.wall - b.wall:+.2f} s wall, {a.cpu - b.cpu:+.2f} s CPU"

    def packages(stderr: str) -> str:
        return ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in import_breakdown(stderr))

    derived = [
        ("import meltano.cli less the interpreter's start", gap(imports, start)),
        ("the accounts include file: state list with it, less without", gap(listed, bare_listed)),
        ("a state read: state get, less state list", gap(read, listed)),
        ("a state write: state set, less state list", gap(write, listed)),
        ("discovery in a run without a catalog, less the run with one", gap(discovering, run_)),
        (
            "Meltano's own share of a run, less the tap and the loader alone",
            f"{run_.wall - max(tap_alone.wall, loader_alone.wall):+.2f} s wall (less the slower of the two), "
            f"{run_.cpu - tap_alone.cpu - loader_alone.cpu:+.2f} s CPU (less both)",
        ),
        ("import tap_projects.tap by package, self time (-X importtime)", packages(tap_imports.stderr)),
        ("import meltano.cli by package, self time (-X importtime)", packages(meltano_imports.stderr)),
    ]
    for name, figure in derived:
        report.rows.append(Row(benchmark, f"({name})", figure=figure))
