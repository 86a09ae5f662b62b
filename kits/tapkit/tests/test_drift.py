"""tapkit.drift in process: inference, merging into a declared schema, the page check, the report."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tapkit.drift import allow_nulls, covers, differences, infer, infer_records, merge
from tapkit.drift_report import DriftReport, StreamDrift
from tapkit.pagecheck import PageChecker

DECLARED = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "amount": {"type": ["number", "null"]},
        "owner_id": {"type": ["integer", "null"]},
        "due": {"type": ["string", "null"], "format": "date-time"},
        "email": {"type": ["string", "null"], "format": "email"},
        "reminder": {
            "type": ["object", "null"],
            "properties": {"channel": {"type": "string"}},
        },
        "lines": {
            "type": ["array", "null"],
            "items": {"type": "object", "properties": {"sku": {"type": "string"}}},
        },
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}
FITS = {
    "id": 1,
    "amount": 12,
    "owner_id": None,
    "due": "2024-01-02T03:04:05+02:00",
    "email": "not checked",
    "reminder": {"channel": "sms"},
    "lines": [{"sku": "a"}],
    "tags": ["x"],
}


def test_infer_types_formats_nesting_and_nullability():
    assert infer(3) == {"type": ["integer", "null"]}
    assert infer(True) == {"type": ["boolean", "null"]}
    assert infer(Decimal("1.5")) == infer(1.5) == {"type": ["number", "null"]}
    assert infer("2024-01-02T03:04:05Z") == {"type": ["string", "null"], "format": "date-time"}
    assert infer("2024-01-02") == {"type": ["string", "null"], "format": "date"}
    assert infer("2024-13-02") == {"type": ["string", "null"]}  # looks like a date, is not one
    assert infer({"geo": {"lat": 1.5}}) == {
        "type": ["object", "null"],
        "properties": {
            "geo": {"type": ["object", "null"], "properties": {"lat": {"type": ["number", "null"]}}}
        },
    }
    assert infer([1, 2.5]) == {"type": ["array", "null"], "items": {"type": ["number", "null"]}}
    assert infer([]) == {"type": ["array", "null"], "items": {}}


def test_mixed_samples_make_a_union_and_a_format_only_where_every_sample_has_it():
    seen = infer_records([{"v": 1, "d": "2024-01-01"}, {"v": "one", "d": "soon"}, {"v": None}])
    assert seen["properties"]["v"] == {"type": ["integer", "null", "string"]}
    assert seen["properties"]["d"] == {"type": ["string", "null"]}


def test_merge_leaves_a_schema_that_covers_the_samples_alone():
    assert covers(DECLARED, infer(FITS))
    assert merge(DECLARED, infer(FITS)) is DECLARED
    assert merge(DECLARED, infer_records([FITS, {"id": 2, "amount": None}])) is DECLARED


def test_merge_adds_and_widens_without_touching_the_rest():
    drifting = {
        **FITS,
        "region": "eu",
        "owner_id": "u-7",
        "due": "next week",
        "reminder": {"channel": "sms", "snoozed": True},
        "lines": [{"sku": "a", "qty": 2}],
    }
    merged = merge(DECLARED, infer(drifting))
    props = merged["properties"]
    assert props["region"] == {"type": ["string", "null"]}
    assert props["owner_id"] == {"type": ["integer", "null", "string"]}
    assert props["due"] == {"type": ["string", "null"]}  # the format goes where a value lacks it
    assert props["reminder"]["properties"]["snoozed"] == {"type": ["boolean", "null"]}
    assert props["lines"]["items"]["properties"]["qty"] == {"type": ["integer", "null"]}
    for name in ("id", "amount", "email", "tags"):
        assert props[name] == DECLARED["properties"][name]
    assert "region" not in DECLARED["properties"]  # the declared schema is not changed
    assert merge({"type": ["integer"]}, infer(2.5)) == {"type": ["number", "null"]}  # integer gives way


def test_differences_name_the_property_and_what_arrived():
    found = differences(DECLARED, {**FITS, "owner_id": "u-7", "reminder": {"channel": "x", "snoozed": 1}})
    assert [d.line() for d in found] == [
        "property 'owner_id' arrived as string (\"u-7\"), the schema says integer/null",
        "property 'reminder.snoozed' is not in the schema (arrived: 1)",
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"region": "eu"},
        {"owner_id": "7"},
        {"id": True},
        {"amount": "12.5"},
        {"reminder": {"channel": "sms", "snoozed": True}},
        {"reminder": {"channel": 5}},
        {"reminder": "tomorrow"},
        {"lines": [{"sku": "a", "qty": 1}]},
        {"lines": [{"sku": 3}]},
        {"tags": [1]},
        {"tags": "x"},
    ],
)
def test_page_checker_finds_every_kind_of_drift(change):
    check = PageChecker(DECLARED)
    page = [FITS] * 5
    assert check(page)
    assert not check([*page, {**FITS, **change}])


def test_page_checker_lets_absent_properties_and_nulls_where_allowed_pass():
    check = PageChecker(DECLARED)
    nullable = [k for k, v in DECLARED["properties"].items() if "null" in v["type"]]
    assert check([{"id": 1}, {"id": 3, **dict.fromkeys(nullable)}, {"id": 2, "lines": [], "tags": []}])


def test_a_null_the_declared_type_does_not_allow_is_drift():
    """The SCHEMA before a record must validate it: a null in ``tags`` (an array) widens it to array/null."""
    check = PageChecker(DECLARED)
    assert not check([{"id": 1}, {"id": 2, "tags": None}])
    assert not check([{"id": 1, "reminder": {"channel": None}}])
    widened = merge(DECLARED, infer({"id": 2, "tags": None}))
    assert widened["properties"]["tags"]["type"] == ["array", "null"]
    assert merge(DECLARED, infer({"id": 2, "owner_id": None})) is DECLARED
    assert allow_nulls(DECLARED, {"id": 2, "tags": ["a", None]})["properties"]["tags"]["items"] == {
        "type": ["string", "null"]
    }
    assert allow_nulls(DECLARED, {"id": 2, "owner_id": None, "tags": ["a"]}) is DECLARED
    [diff] = differences(DECLARED, {"id": 2, "tags": None})
    assert diff.line() == "property 'tags' arrived as null (null), the schema says array"


def test_report_lists_sent_not_declared_conflicts_and_never_seen():
    drift = StreamDrift("tasks")
    drift.note(DECLARED, [{"id": 1, "owner_id": "u", "region": "eu"}, {"id": 2, "owner_id": 3}])
    report = DriftReport([drift, StreamDrift("users", error="HTTP 401")])
    data = json.loads(report.to_json())["streams"]
    assert data["tasks"]["sampled_records"] == 2
    assert data["tasks"]["undeclared"] == {"region": ["string"]}
    assert data["tasks"]["type_conflicts"] == {
        "owner_id": {"declared": ["integer", "null"], "seen": ["string"]}
    }
    assert "amount" in data["tasks"]["never_seen"] and "lines[].sku" in data["tasks"]["never_seen"]
    assert data["users"]["error"] == "HTTP 401"
    markdown = report.to_markdown()
    assert "| tasks | 2 | `region` (string) | `owner_id` (integer/null -> string) |" in markdown
    assert "not sampled: HTTP 401" in markdown
