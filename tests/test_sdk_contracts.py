"""Issue 11: the SDK's modes and hooks hold on the taps' fast path, for the three taps: dry runs (`--test`,
`--test=schema`, a record limit), post_process overrides, stream maps, flattening, BATCH. A tap adds
settings of its own; importing the kit changes no logger but its own."""

from __future__ import annotations

import json
import subprocess
import typing as t

import pytest
from taps import TAPS

from api_sandbox import run_sandbox
from tap_crm.streams import TasksStream
from tap_crm.tap import TapCRM
from tapkit.testing import BIN, TapRun, run_tap, tap_config

ALL = sorted(TAPS)


def messages(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"type"')]


def run_in_test_mode(api: str, mode: str, records: int) -> tuple[TapRun, dict[str, list], list]:
    """The tap run with `mode` (`--test`, `--test=schema`) against a sandbox of `records` records: the
    run, what the sandbox holds (stream -> ids) and the requests it served."""
    with run_sandbox(api, records=records) as sb:
        run = run_tap(TAPS[api].tap, tap_config(sb.base_url), extra_args=(mode,))
        assert run.returncode == 0, run.stderr[-3000:]
        requests = sb.request_log()
        return run, sb.truth(), requests


@pytest.mark.parametrize("api", ALL)
def test_dry_run_writes_one_record_per_stream(api):
    run, truth, requests = run_in_test_mode(api, "--test", records=300)
    counts = {s: len(run.ids(s)) for s in truth}
    assert set(counts.values()) == {1}, counts  # one record per stream, not every record
    assert len(requests) <= 4 * len(counts)  # a page or a few per stream (pages in flight), not 300 records


@pytest.mark.parametrize("api", ALL)
def test_test_schema_writes_schemas_and_makes_no_request(api):
    run, truth, requests = run_in_test_mode(api, "--test=schema", records=30)
    assert requests == []
    assert {m["stream"] for m in run.messages if m["type"] == "SCHEMA"} == set(truth)
    assert not [m for m in run.messages if m["type"] == "RECORD"]


def test_a_record_limit_is_honoured(capsys):
    with run_sandbox("crm", records=300) as sb:
        tap = TapCRM(config=tap_config(sb.base_url))
        tap.run_sync_dry_run(dry_run_record_limit=25)
    out = messages(capsys.readouterr().out)
    tasks = [m for m in out if m["type"] == "RECORD" and m["stream"] == "tasks"]
    assert len(tasks) == 25


class ShoutingTasks(TasksStream):
    """A post_process override: names upper-cased, every tenth record dropped."""

    def post_process(self, row: dict, context: t.Mapping[str, t.Any] | None = None) -> dict | None:
        if row["id"] % 100 == 0:
            return None
        return {**row, "name": row["name"].upper() if row["name"] else row["name"]}


class ShoutingTap(TapCRM):
    stream_types = [ShoutingTasks]


def test_a_post_process_override_is_applied(capsys):
    with run_sandbox("crm", records=120) as sb:
        ShoutingTap(config=tap_config(sb.base_url)).sync_all()
        served = sb.records("tasks")
    got = [m["record"] for m in messages(capsys.readouterr().out) if m["type"] == "RECORD"]
    expected = [r for r in served if r["id"] % 100]
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    assert [r["name"] for r in got] == [r["name"].upper() if r["name"] else r["name"] for r in expected]


@pytest.mark.parametrize("api", ALL)
def test_stream_maps_and_flattening(api):
    t = TAPS[api]
    config = {
        "stream_maps": {t.paged: {"description": None, "__filter__": "True"}},
        "flattening_enabled": True,
        "flattening_max_depth": 1,
    }
    with run_sandbox(api, records=120) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url, **config))
        assert run.returncode == 0, run.stderr[-3000:]
        for stream, ids in sb.truth().items():
            assert run.ids(stream) == ids, stream
    records = run.records(t.paged)
    assert all("description" not in r for r in records)
    assert not [k for r in records for k, v in r.items() if isinstance(v, dict)]  # flattened


@pytest.mark.parametrize("api", ALL)
def test_batch_files_hold_every_record(api, tmp_path):
    import gzip
    from urllib.parse import urlsplit

    t = TAPS[api]
    batch = {"encoding": {"format": "jsonl", "compression": "gzip"}, "storage": {"root": tmp_path.as_uri()}}
    with run_sandbox(api, records=150) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url, batch_config={**batch, "batch_size": 50}))
        assert run.returncode == 0, run.stderr[-3000:]
        for stream, ids in sb.truth().items():
            got = []
            for m in run.messages:
                if m["type"] == "BATCH" and m["stream"] == stream:
                    for url in m["manifest"]:
                        with gzip.open(urlsplit(url).path, "rt") as f:
                            got += [json.loads(line)["id"] for line in f]
            assert got == ids, stream


# -- settings and logging ------------------------------------------------------------------------------


class RegionalTap(TapCRM):
    name = "tap-crm-regional"
    config_jsonschema = {
        "type": "object",
        "properties": {"region": {"type": "string", "enum": ["eu", "us"], "description": "Data region."}},
        "required": ["region"],
    }


def test_a_tap_adds_settings_of_its_own_beside_the_kits():
    properties = RegionalTap.config_jsonschema["properties"]
    assert "region" in properties and "api_key" in properties and "max_pages" in properties
    assert set(RegionalTap.config_jsonschema["required"]) == {"api_key", "region"}
    assert "region" not in TapCRM.config_jsonschema["properties"]  # the kit's schema is not shared
    tap = RegionalTap(config={"api_key": "k", "region": "eu"})
    assert tap.config["region"] == "eu"
    with pytest.raises(Exception, match="region"):
        RegionalTap(config={"api_key": "k", "region": "mars"})


def test_importing_the_kit_changes_no_logger_but_its_own():
    # What singer-sdk sets itself (backoff puts its own logger at INFO) is the baseline.
    code = (
        "import logging, singer_sdk, singer_sdk.streams, requests\n"
        "levels = lambda: {n: l.level for n, l in logging.Logger.manager.loggerDict.items() "
        "if isinstance(l, logging.Logger)}\n"
        "before = levels()\nimport tapkit, tap_crm.tap\nafter = levels()\n"
        "print(sorted(n for n in after if after[n] != before.get(n, logging.NOTSET)))"
    )
    out = subprocess.run([str(BIN / "python"), "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
