"""Every field the API sends arrives, on every path (issue 23): the tap against the real sandbox (its
``--drift`` spec) and, for what the sandbox cannot serve, a small HTTP server of the test's own, under the
default ``schema_contract: evolve``. Each record's every value must be in the Singer output as sent, and the
SCHEMA message in force before each record must validate it.
"""

from __future__ import annotations

import copy
from typing import Any

from api_sandbox import run_sandbox
from tapkit.testing import TapRun, catalog_selecting, run_tap, tap_config


def _deselect(catalog: dict, stream: str, *breadcrumb: str) -> dict:
    catalog = copy.deepcopy(catalog)
    entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == stream)
    for meta in entry["metadata"]:
        if meta["breadcrumb"] == list(breadcrumb):
            meta["metadata"]["selected"] = False
            break
    else:
        entry["metadata"].append({"breadcrumb": list(breadcrumb), "metadata": {"selected": False}})
    return catalog


def _without(record: dict, path: tuple[str, ...]) -> dict:
    out = copy.deepcopy(record)
    target: Any = out
    for part in path[:-1]:
        target = target.get(part) if isinstance(target, dict) else None
    if isinstance(target, dict):
        target.pop(path[-1], None)
    return out


def _by_id(run: TapRun, stream: str) -> dict[Any, dict]:
    records = run.records(stream)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), f"{stream}: ids written more than once"
    return {r["id"]: r for r in records}


# -- the SDK record path with nested deselection and the page overlap -----------------------------------


def test_nested_deselection_with_page_overlap_writes_every_record_once() -> None:
    """A nested deselection takes the SDK's per-record path; the SDK removes the property from the record
    in place, after the page was handed over: the overlap check must still find the page it re-reads."""
    with run_sandbox("crm", records=65) as sb:
        config = tap_config(sb.base_url, page_overlap=1)
        catalog = _deselect(
            catalog_selecting("tap-crm", config, "tasks"),
            "tasks",
            "properties",
            "reminder",
            "properties",
            "channel",
        )
        run = run_tap("tap-crm", config, catalog=catalog)
        assert run.returncode == 0, run.stderr[-3000:]
        sent = sb.records("tasks")
    got = _by_id(run, "tasks")
    assert [r["id"] for r in run.records("tasks")] == [r["id"] for r in sent]
    assert any(isinstance(r.get("reminder"), dict) and "channel" in r["reminder"] for r in sent)
    for record in sent:
        assert got[record["id"]] == _without(record, ("reminder", "channel")), record["id"]
    assert "moved" not in run.stderr, run.stderr[-3000:]
