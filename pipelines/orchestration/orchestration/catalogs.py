"""`python -m orchestration.catalogs DIR`: each tap's catalog, discovered once, as DIR/tap-<api>.json.

With `REST_TAPS_CATALOG_DIR=DIR` every partition's run hands Meltano that file (the extractor's `catalog`
extra, `TAP_CRM__ACME__CATALOG`) instead of asking the tap to discover its streams again: one process
start and one discovery fewer per run. Meltano still applies the project's `select` and `metadata`
rules to it. The catalog is the tap's schema, not the account's data, so one file serves every account
of an API; write the files again after upgrading a tap.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from orchestration.settings import project_root

APIS = ("crm", "projects", "leads")


def meltano_executable() -> str:
    beside = Path(sys.executable).parent / "meltano"
    return str(beside) if beside.exists() else "meltano"


def write_catalogs(directory: Path, project_root: Path, env: Mapping[str, str] | None = None) -> list[Path]:
    """`meltano invoke --dump=catalog tap-<api>` for each API, into `directory`; the files written. The
    first alone (it creates Meltano's system database when that is new: two at once would both try), the
    others side by side."""
    directory.mkdir(parents=True, exist_ok=True)
    first, *rest = APIS
    written = [_finish(first, _start(first, project_root, env), directory)]
    procs = {api: _start(api, project_root, env) for api in rest}
    written += [_finish(api, proc, directory) for api, proc in procs.items()]
    return written


def _start(api: str, project_root: Path, env: Mapping[str, str] | None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [meltano_executable(), "invoke", "--dump=catalog", f"tap-{api}"],
        cwd=project_root,
        env={**os.environ, **(env or {}), "MELTANO_PROJECT_ROOT": str(project_root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _finish(api: str, proc: subprocess.Popen[str], directory: Path) -> Path:
    stdout, stderr = proc.communicate()
    try:
        catalog = json.loads(stdout)
    except ValueError:
        catalog = None
    if proc.returncode != 0 or not isinstance(catalog, dict) or not catalog.get("streams"):
        lines = stderr.strip().splitlines() or ["no output"]
        errors = [line for line in lines if "error" in line.lower()]
        reason = (errors[0] if errors else lines[-1]).strip()  # Meltano's first error line names the cause
        raise RuntimeError(f"tap-{api}: no catalog from meltano invoke --dump=catalog: {reason}")
    path = directory / f"tap-{api}.json"
    path.write_text(json.dumps(catalog, indent=1))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    project = project_root()
    try:
        for path in write_catalogs(args.directory, project):
            print(path)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
