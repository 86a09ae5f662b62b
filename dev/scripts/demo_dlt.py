"""`make demo-dlt`: the dlt variant end to end against the local sandboxes.

Starts the three sandboxes (`api-sandbox serve --api <api> --port 0` through `api_sandbox.launcher`),
loads each with its dlt source into DuckDB (output/demo_dlt/dlt_<api>.duckdb, recreated on
every run), stops the sandboxes and prints the rows per table next to the sandbox's truth
(`GET <root>/_sandbox/truth`). Exits 1 if any table differs. Run from the repository root.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from api_sandbox.launcher import SandboxProcess

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from dlt_sources import SOURCES  # noqa: E402
from dlt_sources.__main__ import describe_error  # noqa: E402
from dlt_sources.pipeline import hide_null_column_notes, load, make_pipeline  # noqa: E402

SANDBOX_KEY = "sandbox-key"  # the sandboxes' default key; the demo never reads your secrets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=300, help="records per paginated resource")
    parser.add_argument(
        "--output", type=Path, default=Path("output/demo_dlt"), help="where the DuckDB files go"
    )
    parser.add_argument("apis", nargs="*", default=list(SOURCES), help="which APIs (default: all three)")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    hide_null_column_notes()

    shutil.rmtree(args.output, ignore_errors=True)
    args.output.mkdir(parents=True)
    results: dict[str, tuple[dict[str, int], dict[str, list[Any]], float]] = {}
    failed = False
    with ExitStack() as stack:
        sandboxes = {}
        for api in args.apis:
            sb = stack.enter_context(SandboxProcess(api, records=args.records))
            sandboxes[api] = sb
            print(f"sandbox {api:<8} {sb.base_url}")
        for api, sb in sandboxes.items():
            pipeline = make_pipeline(
                api,
                duckdb_file=args.output / f"dlt_{api}.duckdb",
                pipelines_dir=args.output / "pipelines",
            )
            started = time.monotonic()
            try:
                result = load(api, pipeline, progress=print, api_key=SANDBOX_KEY, base_url=sb.base_url)
            except Exception as exc:
                print(describe_error(exc, api), file=sys.stderr)
                failed = True
                continue
            results[api] = (result.table_counts(), sb.truth(), time.monotonic() - started)
    # sandboxes stopped here

    print()
    for api, (counts, truth, seconds) in results.items():
        print(
            f"{api}: {sum(counts.get(t, 0) for t in truth)} records in {seconds:.2f} s -> "
            f"{args.output / f'dlt_{api}.duckdb'} (dataset {api})"
        )
        width = max(len(t) for t in truth)
        print(f"  {'table':<{width}}  {'dlt rows':>8}  {'sandbox':>8}")
        for table, ids in truth.items():
            got = counts.get(table, 0)
            mark = "" if got == len(ids) else "  <-- differs"
            failed |= bool(mark)
            print(f"  {table:<{width}}  {got:>8}  {len(ids):>8}{mark}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
