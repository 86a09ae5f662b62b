"""schema_contract and schema_sample_records over real HTTP: the taps' console scripts against a sandbox
that sends what the schemas do not declare (``drift=``)."""

from __future__ import annotations

import json
import socket

from api_sandbox import run_sandbox
from tapkit.testing import catalog_selecting, run_tap, tap_config

# tasks (pages of 20): a new property from position 25 (page 2), a nested one from 30 (page 2), owner_id
# as a string from 41 (page 3)
TASKS_DRIFT = [
    "add,name=region,kind=string,resource=tasks,start=25",
    "add,name=reminder.snoozed,kind=boolean,resource=tasks,start=30",
    "retype,name=owner_id,to=string,resource=tasks,start=41",
]


def tasks_schemas(run) -> list[tuple[int, dict]]:
    """(index in the output, schema) of every SCHEMA message of tasks."""
    return [
        (i, m["schema"])
        for i, m in enumerate(run.messages)
        if m["type"] == "SCHEMA" and m["stream"] == "tasks"
    ]


def first_record_with(run, stream: str, test) -> int:
    return next(
        i
        for i, m in enumerate(run.messages)
        if m["type"] == "RECORD" and m["stream"] == stream and test(m["record"])
    )


def test_evolve_sends_a_wider_schema_before_the_record_and_the_record_whole():
    with run_sandbox("crm", records=45, drift=TASKS_DRIFT) as sb:
        config = tap_config(sb.base_url)
        run = run_tap("tap-crm", config, catalog=catalog_selecting("tap-crm", config, "tasks"))
        assert run.returncode == 0, run.stderr[-2000:]
        assert run.records("tasks") == sb.records("tasks")  # every property, every value, as sent
        schemas = tasks_schemas(run)
        assert len(schemas) == 3  # the declared one, then one per page that changed it
        region_at = first_record_with(run, "tasks", lambda r: "region" in r)
        owner_at = first_record_with(run, "tasks", lambda r: isinstance(r["owner_id"], str))
        assert schemas[1][0] < region_at < schemas[2][0] < owner_at
        widened = schemas[1][1]["properties"]
        assert widened["region"] == {"type": ["string", "null"]}
        assert widened["reminder"]["properties"]["snoozed"] == {"type": ["boolean", "null"]}
        assert schemas[2][1]["properties"]["owner_id"]["type"] == ["integer", "null", "string"]
        for name, declared in schemas[0][1]["properties"].items():  # existing properties untouched
            if name not in ("owner_id", "reminder"):
                assert schemas[2][1]["properties"][name] == declared, name
        assert "not found in catalog schema" not in run.stderr
        assert "'region' added (string/null)" in run.stderr


def test_evolve_on_the_sdk_record_path_too():
    """A nested deselection sends the stream through the SDK's per-record path: it evolves the same way.

    page_overlap 0: with a nested deselection the overlap check fails on any data, drift or none (the SDK
    path hashes the records after the SDK popped the deselected property; a bug of its own, left to the
    owners of stream.py)."""
    with run_sandbox("crm", records=45, drift=TASKS_DRIFT) as sb:
        config = tap_config(sb.base_url, page_overlap=0)
        catalog = catalog_selecting("tap-crm", config, "tasks")
        entry = next(e for e in catalog["streams"] if e["tap_stream_id"] == "tasks")
        entry["metadata"].append(
            {
                "breadcrumb": ["properties", "reminder", "properties", "channel"],
                "metadata": {"selected": False},
            }
        )
        run = run_tap("tap-crm", config, catalog=catalog)
        assert run.returncode == 0, run.stderr[-2000:]
        sent = sb.records("tasks")
        for record in sent:
            if isinstance(record["reminder"], dict):
                record["reminder"].pop("channel")
        assert run.records("tasks") == sent
        assert len(tasks_schemas(run)) == 3


def test_a_field_one_record_in_ten_thousand_has_arrives():
    drift = ["add,name=legacy_code,kind=integer,resource=activities,start=6789,every=10000"]
    with run_sandbox("projects", records=10_000, drift=drift) as sb:
        config = tap_config(sb.base_url)
        run = run_tap("tap-projects", config, catalog=catalog_selecting("tap-projects", config, "activities"))
        assert run.returncode == 0, run.stderr[-2000:]
        having = [r for r in run.records("activities") if "legacy_code" in r]
        assert having == [r for r in sb.records("activities") if "legacy_code" in r]
        assert len(having) == 1 and having[0]["legacy_code"] == 6790 * 7


def test_freeze_fails_on_the_first_drift_with_one_line():
    with run_sandbox("crm", records=45, drift=TASKS_DRIFT) as sb:
        config = tap_config(sb.base_url, schema_contract="freeze")
        run = run_tap("tap-crm", config, catalog=catalog_selecting("tap-crm", config, "tasks"))
        assert run.returncode == 1
        # the SDK's "An unhandled error occurred while syncing 'tasks'", then our one line, last
        assert run.errors[-1] == run.stderr.strip().splitlines()[-1]
        assert (
            "stream 'tasks': record id=260: property 'region' is not in the schema (arrived: "
            in run.errors[-1]
        )
        assert "Traceback" not in run.stderr
        assert len(run.records("tasks")) == 20  # the first page; nothing of the page that drifted
        assert len(tasks_schemas(run)) == 1


def test_freeze_names_a_type_conflict():
    with run_sandbox("crm", records=45, drift=TASKS_DRIFT[2:]) as sb:
        config = tap_config(sb.base_url, schema_contract="freeze")
        run = run_tap("tap-crm", config, catalog=catalog_selecting("tap-crm", config, "tasks"))
        assert run.returncode == 1
        assert "record id=420: property 'owner_id' arrived as string (" in run.errors[-1]
        assert "the schema says integer/null" in run.errors[-1]


def test_discard_value_drops_undeclared_properties_with_the_warning():
    with run_sandbox("crm", records=45, drift=TASKS_DRIFT[:2]) as sb:
        config = tap_config(sb.base_url, schema_contract="discard_value")
        run = run_tap("tap-crm", config, catalog=catalog_selecting("tap-crm", config, "tasks"))
        assert run.returncode == 0, run.stderr[-2000:]
        assert not any("region" in r for r in run.records("tasks"))
        assert len(tasks_schemas(run)) == 1
        assert (
            "Properties ('region', 'reminder.snoozed') were present in the 'tasks' stream but not found in "
            "catalog schema. Ignoring." in run.stderr
        )


def test_discovery_samples_records_merges_them_and_writes_the_report(tmp_path):
    report = tmp_path / "drift.json"
    with run_sandbox("crm", records=45, drift=TASKS_DRIFT) as sb:
        plain = run_tap("tap-crm", tap_config(sb.base_url), extra_args=("--discover",))
        config = tap_config(sb.base_url, schema_sample_records=45, schema_report=str(report))
        run = run_tap("tap-crm", config, extra_args=("--discover",))
    assert run.returncode == 0, run.stderr[-2000:]
    before = {e["tap_stream_id"]: e["schema"] for e in json.loads(plain.stdout)["streams"]}
    after = {e["tap_stream_id"]: e for e in json.loads(run.stdout)["streams"]}
    tasks = after["tasks"]["schema"]["properties"]
    assert tasks["region"] == {"type": ["string", "null"]}
    assert tasks["reminder"]["properties"]["snoozed"] == {"type": ["boolean", "null"]}
    assert tasks["owner_id"]["type"] == ["integer", "null", "string"]
    assert {"breadcrumb": ["properties", "region"], "metadata": {"inclusion": "available"}} in after["tasks"][
        "metadata"
    ]
    for name, entry in after.items():  # where the samples agree with the declared schema, nothing changes
        if name != "tasks":
            assert entry["schema"] == before[name], name
    data = json.loads(report.read_text())["streams"]
    assert data["tasks"]["undeclared"] == {"region": ["string"], "reminder.snoozed": ["boolean"]}
    assert list(data["tasks"]["type_conflicts"]) == ["owner_id"]
    message = (
        "stream 'tasks': 45 records sampled; sent but not declared: region, reminder.snoozed; "
        "type conflicts: owner_id"
    )
    assert message in run.stderr


def test_discovery_without_a_reachable_api_keeps_the_declared_schemas_with_a_warning():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = tap_config(f"http://127.0.0.1:{port}", schema_sample_records=10)
    run = run_tap("tap-crm", config, extra_args=("--discover",), timeout=60)
    plain = run_tap("tap-crm", tap_config(f"http://127.0.0.1:{port}"), extra_args=("--discover",))
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout) == json.loads(plain.stdout)
    assert "the API was not reachable; the declared schema is kept" in run.stderr
    assert "retry" not in run.stderr
