"""dlt's side of the throughput and latency rows: extract only (no normalize, no load).

Runs the repository's dlt variant (``dlt_sources.projects``: ``rest_api_resources`` with the same
paths, selectors, page sizes and parameters as the tap) for one resource into a throwaway pipelines
directory. ``python -m bench.dlt_extract BASE_URL RESOURCE PIPELINES_DIR [IDS_FILE]`` prints
``records N`` to stderr; with IDS_FILE it also writes every extracted id there, one per line.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    base_url, resource, pipelines_dir = argv[:3]
    ids_file = argv[3] if len(argv) > 3 else None
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt

    from dlt_sources.projects import projects_source

    source = projects_source(api_key="sandbox-key", base_url=base_url).with_resources(resource)
    ids: list[int] = []
    if ids_file:

        def keep_id(item: dict) -> dict:
            ids.append(item["id"])
            return item

        source.resources[resource].add_map(keep_id)
    pipeline = dlt.pipeline(pipeline_name="bench_dlt", pipelines_dir=pipelines_dir)
    info = pipeline.extract(source)
    count = 0
    for load_metrics in info.metrics.values():
        for step in load_metrics:
            for table, metrics in step["table_metrics"].items():
                if not table.startswith("_dlt"):
                    count += metrics.items_count
    if ids_file:
        with open(ids_file, "w") as f:
            f.write("".join(f"{i}\n" for i in ids))
    print(f"records {count}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
