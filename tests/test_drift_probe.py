"""Every field the API sends arrives, on every path (issue 23): the tap against the real sandbox (its
``--drift`` spec) and, for what the sandbox cannot serve, a small HTTP server of the test's own, under the
default ``schema_contract: evolve``. Each record's every value must be in the Singer output as sent, and the
SCHEMA message in force before each record must validate it.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from jsonschema import Draft7Validator

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


# -- a tiny API of the test's own: serves exactly the records a case gives ------------------------------


class _API:
    """``/v1/<resource>?offset=&limit=``: ``{"data": [...]}`` from ``resources``; ``raw`` overrides a
    resource's whole response as ``(status, body bytes)``."""

    def __init__(self, resources: dict[str, list[dict]], raw: dict[str, tuple[int, bytes]] | None = None):
        self.resources, self.raw = resources, raw or {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                name = url.path.rsplit("/", 1)[-1]
                query = parse_qs(url.query)
                if name in api.raw:
                    status, body = api.raw[name]
                elif name in api.resources:
                    records = api.resources[name]
                    if "offset" in query:
                        offset, limit = int(query["offset"][0]), int(query["limit"][0])
                        records = records[offset : offset + limit]
                    status, body = 200, json.dumps({"data": records}, ensure_ascii=False).encode()
                else:
                    status, body = 404, b'{"error": "no such resource"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _API:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


_CATALOGS: dict[tuple[str, ...], dict] = {}


def _catalog(*streams: str) -> dict:
    """tap-crm's catalog (its declared schemas: discovery without sampling reads no API) with ``streams``."""
    if streams not in _CATALOGS:
        _CATALOGS[streams] = catalog_selecting("tap-crm", tap_config("http://127.0.0.1:9"), *streams)
    return copy.deepcopy(_CATALOGS[streams])


def _strictly_equal(sent: Any, got: Any) -> bool:
    """Equal as JSON: 1 is not 1.0 nor true, every key and item the same."""
    if isinstance(sent, dict):
        return (
            isinstance(got, dict)
            and sent.keys() == got.keys()
            and all(_strictly_equal(v, got[k]) for k, v in sent.items())
        )
    if isinstance(sent, list):
        return isinstance(got, list) and len(sent) == len(got) and all(map(_strictly_equal, sent, got))
    return type(sent) is type(got) and sent == got


def _check_every_value(run: TapRun, stream: str, sent: list[dict]) -> list[dict]:
    """Every record sent went out once, whole and exact, valid under the SCHEMA in force before it.
    Returns the stream's SCHEMA messages."""
    assert run.returncode == 0, run.stderr[-4000:]
    assert "Traceback" not in run.stderr, run.stderr[-4000:]
    schemas: list[dict] = []
    validator: Any = None
    out = []
    for message in run.messages:
        if message.get("stream") != stream:
            continue
        if message["type"] == "SCHEMA":
            schemas.append(message["schema"])
            validator = Draft7Validator(message["schema"])
        elif message["type"] == "RECORD":
            record = message["record"]
            assert validator is not None, "a RECORD before any SCHEMA"
            errors = sorted(validator.iter_errors(record), key=str)
            assert not errors, f"record {record.get('id')!r} does not fit its SCHEMA: {errors[0].message}"
            out.append(record)
    assert len(out) == len(sent), f"{stream}: {len(out)} records written, the API sent {len(sent)}"
    for want, got in zip(sent, out, strict=True):
        assert _strictly_equal(want, got), f"{stream}: sent {want!r}\n  wrote {got!r}"
    return schemas


def _run_api(
    resources: dict[str, list[dict]], stream: str = "tasks", catalog: dict | None = None, **config: Any
) -> TapRun:
    with _API(resources) as api:
        return run_tap("tap-crm", tap_config(api.base_url, **config), catalog=catalog or _catalog(stream))


def _tasks(n: int, **extra: Any) -> list[dict]:
    """``n`` tasks with the declared id and name, and whatever ``extra(i)`` adds to record ``i``."""
    out = []
    for i in range(n):
        record: dict[str, Any] = {"id": i + 1, "name": f"task {i + 1}"}
        for key, value in extra.items():
            got = value(i)
            if got is not _ABSENT:
                record[key] = got
        out.append(record)
    return out


_ABSENT = object()
PAGE = 20  # tap-crm's tasks page size


def _case_null_then_object() -> list[dict]:
    return _tasks(70, extra=lambda i: None if i < 2 * PAGE else {"a": i, "b": {"c": f"x{i}"}})


def _case_array_items_change() -> list[dict]:
    return _tasks(60, codes=lambda i: [i, i + 1] if i < 30 else [{"k": i}, {"k": i, "v": [1.5]}])


def _case_deep_key_on_page_5() -> list[dict]:
    def meta(i: int) -> dict:
        level3: dict[str, Any] = {"n": i}
        if i >= 4 * PAGE:
            level3["gained"] = f"deep {i}"
        return {"l1": {"l2": {"l3": level3}}}

    return _tasks(110, meta=meta)


def _case_string_as_number_and_object() -> list[dict]:
    records = _tasks(50)
    records[4]["name"] = 12
    records[30]["name"] = {"first": "Ada", "last": "Lovelace"}
    records[31]["name"] = 12.75
    return records


def _case_integer_as_huge_and_fraction() -> list[dict]:
    records = _tasks(50, owner_id=lambda i: i)
    records[3]["owner_id"] = 10**39 + 7  # 40 digits
    records[25]["owner_id"] = 1.5
    records[26]["owner_id"] = -(10**39)
    return records


def _case_odd_names() -> list[dict]:
    names = [
        "a.b", "with space", 'quote"d', "it's", "ünïcødé ✓", "x" * 200, "$dollar", "back\\slash", "new\nline",
        "",
    ]  # fmt: skip
    return _tasks(
        45, **{name: (lambda i, n=name: f"{n[:5]} {i}" if i % 7 == 3 else _ABSENT) for name in names}
    )


def _case_odd_values_for_declared_types() -> list[dict]:
    records = _tasks(60)
    odd: list[tuple[str, Any]] = [
        ("owner_id", True),  # a boolean is not an integer
        ("completed", 1),  # nor an integer a boolean
        ("completed", "yes"),
        ("due_date", "soon"),  # a string that is not the declared date-time
        ("tags", "a,b"),
        ("tags", [1, {"x": None}]),
        ("reminder", "tomorrow"),
        ("reminder", [{"channel": "sms"}]),
        ("reminder", {}),
        ("description", ""),
        ("priority", {"level": {"deeper": [[]]}}),
    ]
    for i, (name, value) in enumerate(odd):
        records[5 + 4 * i][name] = value
    records[50]["empty_then_items"] = []
    records[55]["empty_then_items"] = [{"a": 1}]
    return records


def _case_null_where_the_type_does_not_allow_it() -> list[dict]:
    records = _tasks(50, status=lambda i: "open")
    records[3]["name"] = None  # declared string
    records[24]["status"] = None
    records[25]["reminder"] = {"channel": None}  # declared string, inside an object
    records[26]["tags"] = [None, "a"]  # declared array of strings
    records[27]["tags"] = None  # declared array
    return records


CASES = {
    "null-where-the-type-does-not-allow-it": _case_null_where_the_type_does_not_allow_it,
    "odd-values-for-declared-types": _case_odd_values_for_declared_types,
    "null-then-object": _case_null_then_object,
    "array-items-integers-then-objects": _case_array_items_change,
    "nested-key-3-levels-deep-on-page-5": _case_deep_key_on_page_5,
    "declared-string-as-number-and-object": _case_string_as_number_and_object,
    "declared-integer-as-40-digits-and-1.5": _case_integer_as_huge_and_fraction,
    "odd-property-names": _case_odd_names,
}


@pytest.mark.parametrize("path", ["fast", "sdk"])
@pytest.mark.parametrize("case", CASES)
def test_evolve_writes_every_value_sent(case: str, path: str) -> None:
    sent = CASES[case]()
    catalog = _catalog("tasks")
    if path == "sdk":  # a nested deselection forces the SDK's per-record path
        catalog = _deselect(catalog, "tasks", "properties", "reminder", "properties", "remind_at")
        for record in sent:
            reminder = record.get("reminder")
            if isinstance(reminder, dict):
                reminder["remind_at"] = "2024-01-01T00:00:00Z"  # sent, and deselected
    run = _run_api({"tasks": sent}, catalog=catalog)
    if path == "sdk":
        sent = [_without(record, ("reminder", "remind_at")) for record in sent]
    _check_every_value(run, "tasks", sent)
    stray = [line for line in run.stderr.splitlines() if not line[:4].isdigit()]
    assert not stray, f"log lines broken by a property name: {stray[:3]}"


def test_a_name_differing_only_in_case_from_a_declared_one_is_its_own_property() -> None:
    """``Email`` next to the declared ``email`` (an unpaginated resource: the single-response path)."""
    sent = [
        {"id": 1, "name": "a", "email": "a@example.com"},
        {"id": 2, "name": "b", "email": "b@example.com", "Email": "B@Example.com"},
        {"id": 3, "name": "c", "Email": 3},
    ]
    schemas = _check_every_value(_run_api({"persons": sent}, "persons"), "persons", sent)
    assert {"email", "Email"} <= schemas[-1]["properties"].keys()


def test_a_record_with_2000_new_keys_widens_the_schema_once() -> None:
    wide = {f"k{n:04d}": n for n in range(2000)}
    sent = _tasks(45)
    sent[23].update(wide)
    run = _run_api({"tasks": sent})
    schemas = _check_every_value(run, "tasks", sent)
    assert len(schemas) == 2, f"{len(schemas)} SCHEMA messages for one record's new keys"
    assert wide.keys() <= schemas[-1]["properties"].keys()
    warning = [line for line in run.stderr.splitlines() if "schema widened" in line]
    assert len(warning) == 1 and len(warning[0]) < 2000, warning[0][:3000]


# -- the key property changing type ---------------------------------------------------------------------


@pytest.mark.parametrize("contract", ["evolve", "freeze"])
def test_a_key_property_changing_type_stops_the_stream_in_one_line(contract: str) -> None:
    """``id`` as "31" after 30: widening the key to integer/string would make 31 and "31" two records to a
    loader merging on the key (the rows loaded before under the old type never updated): refused, under
    every contract that checks, with one line naming stream, record key and property; no page holding
    the record is written."""
    sent = _tasks(50)
    sent[30]["id"] = "31"
    run = _run_api({"tasks": sent}, schema_contract=contract)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert [r["id"] for r in run.records("tasks")] == list(range(1, 21))  # the pages before it
    line = run.errors[-1]
    assert "stream 'tasks'" in line and "record id='31'" in line and "key property 'id'" in line, line
    assert 'arrived as string ("31")' in line and "the schema says integer" in line, line


# -- freeze and discard_value -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (lambda r: r.update(region="EMEA"), "property 'region' is not in the schema (arrived: \"EMEA\")"),
        (lambda r: r.update(name={"first": "Ada"}), 'property \'name\' arrived as object ({"first": "Ada"})'),
        (
            lambda r: r.update(reminder={"channel": "sms", "snoozed": True}),
            "property 'reminder.snoozed' is not in the schema (arrived: true)",
        ),
        (lambda r: r.update(name=None), "property 'name' arrived as null (null), the schema says string"),
    ],
    ids=["undeclared", "type-conflict", "nested-undeclared", "null-not-allowed"],
)
@pytest.mark.parametrize("path", ["fast", "sdk"])
def test_freeze_fails_in_one_line_naming_stream_key_property_and_value(
    change: Any, what: str, path: str
) -> None:
    sent = _tasks(50)
    change(sent[24])
    catalog = _catalog("tasks")
    if path == "sdk":  # a nested deselection forces the SDK's per-record path
        catalog = _deselect(catalog, "tasks", "properties", "reminder", "properties", "remind_at")
    run = _run_api({"tasks": sent}, catalog=catalog, schema_contract="freeze")
    assert run.returncode == 1
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert [r["id"] for r in run.records("tasks")] == list(range(1, 21))
    [line] = [line for line in run.errors if "schema_contract is freeze" in line]
    assert f"stream 'tasks': record id=25: {what}" in line, line


@pytest.mark.parametrize("path", ["fast", "sdk"])
def test_discard_value_drops_what_is_undeclared_and_says_only_that(path: str) -> None:
    sent = _tasks(45)
    sent[3]["extra"] = 1
    sent[26]["reminder"] = {"channel": "x", "deep_new": 1}
    catalog = _catalog("tasks")
    if path == "sdk":
        catalog = _deselect(catalog, "tasks", "properties", "reminder", "properties", "remind_at")
    run = _run_api({"tasks": sent}, catalog=catalog, schema_contract="discard_value")
    assert run.returncode == 0, run.stderr[-3000:]
    got = _by_id(run, "tasks")
    assert got[4] == {"id": 4, "name": "task 4"}
    assert got[27] == {"id": 27, "name": "task 27", "reminder": {"channel": "x"}}
    warned = [line for line in run.stderr.splitlines() if "not found in catalog schema" in line]
    named = {name for line in warned for name in re.findall(r"'([^']+)'", line.split("Properties", 1)[1])}
    assert named == {"extra", "reminder.deep_new", "tasks"}, warned  # the stream's name, and what was dropped
    assert not any("widened" in line for line in run.stderr.splitlines())


# -- a property seen once in 10,000 records, on both paths -------------------------------------------------

RARE = "add,name=legacy_code,kind=integer,start=6789,every=10000"


@pytest.mark.parametrize("path", ["fast", "sdk"])
def test_a_property_seen_once_in_10000_records_arrives(path: str) -> None:
    with run_sandbox(
        "crm", records=10_000, drift=[RARE, "add,name=reminder.rare,kind=object,start=9001,every=10000"]
    ) as sb:
        config = tap_config(sb.base_url)
        catalog = catalog_selecting("tap-crm", config, "tasks")
        if path == "sdk":
            catalog = _deselect(catalog, "tasks", "properties", "reminder", "properties", "channel")
        run = run_tap("tap-crm", config, catalog=catalog)
        sent = sb.records("tasks")
    if path == "sdk":
        sent = [_without(r, ("reminder", "channel")) for r in sent]
    assert [r for r in sent if "legacy_code" in r], "the drift did not reach the records"
    assert [r for r in sent if isinstance(r.get("reminder"), dict) and "rare" in r["reminder"]]
    _check_every_value(run, "tasks", sent)


# -- discovery that samples an API that answers wrong --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b'{"error": "boom"}'),
        (401, b'{"error": "bad key"}'),
        (200, b'{"items": [{"id": 1}]}'),
        (200, b'[{"id": 1}]'),
        (200, b"<html>not json</html>"),
        (200, b'{"data": [{"name": "no id"}]}'),
        (200, b'{"data": {"id": 1}}'),
    ],
    ids=["500", "401", "wrong-selector", "bare-list", "not-json", "no-key", "data-not-a-list"],
)
def test_discover_with_sampling_against_an_api_that_answers_wrong(status: int, body: bytes) -> None:
    """The stream that could not be read keeps its declared schema, with one line saying why; a stream
    after it is still sampled (an answer, however wrong, is no unreachable API); no traceback."""
    users = [{"id": 1, "name": "u", "nickname": "x"}]
    with _API({"users": users}, raw={"tasks": (status, body)}) as api:
        run = run_tap(
            "tap-crm", tap_config(api.base_url, schema_sample_records=20), extra_args=("--discover",)
        )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    schemas = {e["tap_stream_id"]: e["schema"] for e in json.loads(run.stdout)["streams"]}
    declared = {e["tap_stream_id"]: e["schema"] for e in _catalog("tasks")["streams"]}
    assert schemas["tasks"] == declared["tasks"]
    assert "nickname" in schemas["users"]["properties"], "the stream after the failed one was not sampled"
    [line] = [line for line in run.stderr.splitlines() if "stream 'tasks': not sampled" in line]
    assert line.count("stream 'tasks'") == 1 and "GET " in line, line
    assert "not reachable" not in run.stderr and "did not answer" not in run.stderr
    assert "sandbox-key" not in run.stderr


# -- BATCH files on the SDK's path ---------------------------------------------------------------------------


def _batch_records(run: TapRun, stream: str) -> list[dict]:
    out = []
    for message in run.messages:
        if message["type"] == "BATCH" and message["stream"] == stream:
            for url in message["manifest"]:
                with gzip.open(url.removeprefix("file://"), "rt", encoding="utf-8") as lines:
                    out += [json.loads(line) for line in lines]
    return out


@pytest.mark.parametrize("contract", ["evolve", "discard_value"])
def test_batch_files_on_the_sdk_path_hold_what_record_messages_would(contract: str, tmp_path: Any) -> None:
    """singer-sdk's batcher takes records as the stream yields them: without the catalog's deselection,
    type conformance or the contract's drops, which it applies only to RECORD messages."""
    sent = _tasks(45, extra=lambda i: i if i % 9 == 2 else _ABSENT)
    for record in sent:
        record["reminder"] = {"channel": "sms", "remind_at": "2024-01-01T00:00:00Z"}
    catalog = _deselect(_catalog("tasks"), "tasks", "properties", "reminder", "properties", "remind_at")
    batch = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{tmp_path}"},
        "batch_size": 20,
    }
    run = _run_api({"tasks": sent}, catalog=catalog, schema_contract=contract, batch_config=batch)
    assert run.returncode == 0, run.stderr[-3000:]
    got = _batch_records(run, "tasks")
    want = [_without(record, ("reminder", "remind_at")) for record in sent]
    if contract == "discard_value":
        want = [{k: v for k, v in record.items() if k != "extra"} for record in want]
    assert len(got) == len(want)
    for expected, written in zip(want, got, strict=True):
        assert _strictly_equal(expected, written), f"sent {expected!r}\n  batch file holds {written!r}"


def test_discovery_does_not_widen_a_key_property_and_the_report_names_it(tmp_path: Any) -> None:
    """The samples hold ``id`` as a string: the sync would refuse that key, so discovery keeps its declared
    type and says so, and the report lists the conflict."""
    users: list[dict] = [{"id": 1, "name": "a"}, {"id": "2", "name": "b", "nickname": "x"}]
    report = tmp_path / "drift.json"
    with _API({"users": users}) as api:
        config = tap_config(api.base_url, schema_sample_records=20, schema_report=str(report))
        run = run_tap("tap-crm", config, extra_args=("--discover",))
    assert run.returncode == 0, run.stderr[-3000:]
    schemas = {e["tap_stream_id"]: e["schema"] for e in json.loads(run.stdout)["streams"]}
    declared = {e["tap_stream_id"]: e["schema"] for e in _catalog("users")["streams"]}
    assert schemas["users"]["properties"]["id"] == declared["users"]["properties"]["id"]
    assert "nickname" in schemas["users"]["properties"]
    [line] = [line for line in run.stderr.splitlines() if "key property 'id'" in line]
    assert "stream 'users'" in line and "declared type is kept" in line, line
    assert "id" in json.loads(report.read_text())["streams"]["users"]["type_conflicts"]


def test_the_drift_report_keeps_odd_names_in_their_cell_and_line(tmp_path: Any) -> None:
    """Names with a column separator, a newline, backticks: the Markdown table keeps one row per stream
    and five columns, the stderr summary one line per stream."""
    odd = {"pi|pe": 1, "new\nline": 2, "`tick`": 3, "x" * 200: 4, "ünï": {"a|b": 1}}
    users: list[dict] = [{"id": 1, "name": "a", **odd}]
    report = tmp_path / "drift.md"
    with _API({"users": users}) as api:
        config = tap_config(api.base_url, schema_sample_records=5, schema_report=str(report))
        run = run_tap("tap-crm", config, extra_args=("--discover",))
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [line for line in report.read_text().splitlines() if line.startswith("| users ")]
    assert len(rows) == 1, report.read_text()
    assert len(re.findall(r"(?<!\\)\|", rows[0])) == 6, rows[0]
    assert all(line.startswith("|") for line in report.read_text().splitlines()[2:] if line), (
        report.read_text()
    )
    assert "`` `tick` ``" in rows[0] and r"`pi\|pe`" in rows[0] and r"`new\nline`" in rows[0], rows[0]
    assert all(line[:4].isdigit() for line in run.stderr.splitlines()), run.stderr[-2000:]


@pytest.mark.parametrize("value", ["abc", -1, 2.5, True])
def test_discover_with_a_sample_size_that_is_no_number_keeps_the_declared_schemas(value: Any) -> None:
    """Discovery runs on a config the tap only warns about: sampling says why it is not done, in one line."""
    with _API({"users": [{"id": 1, "name": "u", "nickname": "x"}]}) as api:
        run = run_tap(
            "tap-crm", tap_config(api.base_url, schema_sample_records=value), extra_args=("--discover",)
        )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    schemas = {e["tap_stream_id"]: e["schema"] for e in json.loads(run.stdout)["streams"]}
    assert "nickname" not in schemas["users"]["properties"]
    [line] = [line for line in run.stderr.splitlines() if "schema sampling: not done" in line]
    assert f"must be a whole number of records, got {value!r}" in line, line
