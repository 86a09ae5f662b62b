"""The dlt variant and the Singer taps describe the same APIs.

Structural parity: names, paths, data selectors, page sizes, parameter names and primary keys.
Data parity: both load the same sandbox into DuckDB and end up with the same ids, equal to the
sandbox's truth; a second dlt run merges without duplicates.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import warehouse

import api_sandbox
from dlt_sources import MODULES, PRIMARY_KEY
from dlt_sources.pipeline import load, make_pipeline

TAPS = {
    "crm": ("tap_crm.tap", "TapCRM"),
    "projects": ("tap_projects.tap", "TapProjects"),
    "leads": ("tap_leads.tap", "TapLeads"),
}


def tap_class(api: str) -> Any:
    module_name, class_name = TAPS[api]
    return getattr(importlib.import_module(module_name), class_name)


def tap_rows(api: str) -> list[tuple[Any, ...]]:
    """(name, path, selector, page_size, offset_param, size_param, primary_keys) per tap stream.

    Read from the tap's stream classes, the same list ``discover_streams()`` instantiates."""
    rows = []
    for stream in tap_class(api).stream_types:
        paginated = stream.page_size is not None
        rows.append(
            (
                stream.name,
                stream.path,
                stream.data_selector,
                stream.page_size,
                stream.offset_param if paginated else None,
                stream.size_param if paginated else None,
                list(stream.primary_keys),
            )
        )
    return rows


def dlt_rows(api: str) -> list[tuple[Any, ...]]:
    return [
        (r.name, r.path, r.data_selector, r.page_size, r.offset_param, r.size_param, [PRIMARY_KEY])
        for r in MODULES[api].RESOURCES
    ]


@pytest.mark.parametrize("api", sorted(MODULES))
def test_structure_matches_the_tap(api: str) -> None:
    assert dlt_rows(api) == tap_rows(api)
    assert tap_class(api).default_base_url == MODULES[api].DEFAULT_BASE_URL


# ----------------------------------------------------------------------------------------------------
# data parity: dlt and `meltano run tap-x target-duckdb` against the same sandbox
# ----------------------------------------------------------------------------------------------------

RECORDS = 120  # several pages of every paginated CRM and leads resource; small enough to be fast


def dlt_load_into(api: str, base_url: str, duckdb_file: Path, pipelines_dir: Path) -> dict[str, int]:
    pipeline = make_pipeline(api, duckdb_file=duckdb_file, pipelines_dir=pipelines_dir, dataset=api)
    return load(api, pipeline, api_key="sandbox-key", base_url=base_url).rows_loaded


@pytest.mark.parametrize("api", sorted(MODULES))
def test_dlt_and_tap_load_the_same_ids(api: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    meltano_run = request.getfixturevalue("meltano_run")

    with api_sandbox.run_sandbox(api, records=RECORDS, seed=3) as sb:
        truth: dict[str, list[Any]] = sb.truth()

        dlt_file = tmp_path / f"dlt_{api}.duckdb"
        dlt_load_into(api, sb.base_url, dlt_file, tmp_path / "pipelines")

        result = meltano_run("run", f"tap-{api}", "target-duckdb", env=warehouse.tap_env(api, sb.base_url))
        assert result.returncode == 0, result.stderr[-3000:]
        tap_file = meltano_run.duckdb_path

        for name, ids in truth.items():
            expected = sorted(ids)
            dlt_ids = warehouse.duckdb_ids(dlt_file, api, name)
            tap_ids = warehouse.duckdb_ids(tap_file, f"tap_{api}", name)
            assert dlt_ids == expected, f"dlt {api}.{name}: not the sandbox's truth"
            assert tap_ids == expected, f"tap-{api} {name}: not the sandbox's truth"

        # A second dlt run merges on id: the same ids, no duplicates.
        dlt_load_into(api, sb.base_url, dlt_file, tmp_path / "pipelines")
        for name, ids in truth.items():
            assert warehouse.duckdb_ids(dlt_file, api, name) == sorted(ids), f"{api}.{name} after re-run"
