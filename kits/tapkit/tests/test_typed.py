"""Pages read into the schema's types (tapkit.typed) against the page check they stand in for.

The typed reader may refuse more than the page check (the page then takes the usual way) but must never
accept a page the page check refuses, and a record read either way must digest the same (the overlap
check compares records of one run with records a state remembers).
"""

from __future__ import annotations

import json
import operator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapkit.body import DECODER
from tapkit.matching import record_digest
from tapkit.pagecheck import PageChecker
from tapkit.typed import TypedPages, TypedRecord, typed

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["string", "null"]},
        "amount": {"type": ["number", "null"]},
        "flag": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {
            "type": ["object", "null"],
            "properties": {"city": {"type": "string"}, "zip": {"type": ["string", "null"]}},
        },
        "extra": {"type": ["object", "null"]},
        "anything": {},
        "odd name-ü": {"type": "integer"},
    },
}

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["city", "zip", "q"]), inner),
    max_leaves=6,
)
FITTING = {  # a value of each property's declared type
    "id": st.integers(min_value=0, max_value=2**70),
    "name": st.none() | st.text(max_size=5),
    "amount": st.none() | st.integers() | st.floats(allow_nan=False, allow_infinity=False),
    "flag": st.booleans(),
    "tags": st.lists(st.text(max_size=3), max_size=3),
    "address": st.none()
    | st.fixed_dictionaries(
        {}, optional={"city": st.text(max_size=3), "zip": st.none() | st.text(max_size=3)}
    ),
    "extra": st.none() | st.dictionaries(st.text(max_size=3), JSON_VALUES, max_size=3),
    "anything": JSON_VALUES,
    "odd name-ü": st.integers(),
}
# records: mostly values of the declared types, now and then one of any type or an undeclared property
RECORDS = st.fixed_dictionaries(
    {"id": FITTING["id"] | JSON_VALUES},
    optional={
        **{
            name: FITTING[name] | FITTING[name] | FITTING[name] | JSON_VALUES
            for name in FITTING
            if name != "id"
        },
        "undeclared": JSON_VALUES,
    },
)


def body(records: list[dict]) -> bytes:
    return json.dumps({"data": records}, ensure_ascii=False).encode()


def reader(schema: dict = SCHEMA) -> TypedPages:
    pages = TypedPages.of(schema, "data", ["id"])
    assert pages is not None
    return pages


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RECORDS, max_size=4))
def test_a_page_read_typed_is_one_the_page_check_passes(records: list[dict]) -> None:
    content = body(records)
    read = reader().read(content)
    as_dicts = DECODER.decode(content)["data"]
    fits = PageChecker(SCHEMA)(as_dicts) and all("id" in r and type(r["id"]) is int for r in as_dicts)
    assert fits or read is None  # never more than the page check
    if read is None:
        return
    assert PageChecker(SCHEMA)(as_dicts), "the typed reader accepted a page the page check refuses"
    typed_records, raw = read
    assert [DECODER.decode(r) for r in raw] == as_dicts  # each record's own bytes
    assert list(map(record_digest, typed_records)) == list(map(record_digest, as_dicts))
    assert [r["id"] for r in typed_records] == [r["id"] for r in as_dicts]


def test_a_plain_page_is_read_typed_and_each_kind_of_misfit_is_not() -> None:
    good = {
        "id": 1,
        "name": None,
        "amount": 1.5,
        "flag": True,
        "tags": ["a"],
        "address": {"city": "Köln", "zip": None},
        "extra": {"any": [1, {"b": 2}]},
        "anything": [None],
        "odd name-ü": 3,
    }
    read = reader().read(body([good, {"id": 2}]))
    assert read is not None and typed(read[0])
    assert operator.itemgetter("id")(read[0][1]) == 2
    with pytest.raises(KeyError):
        read[0][1]["name"]  # absent, as in a dict
    misfits: list[dict] = [
        {"id": "1"},  # a key of another type
        {"id": 1, "undeclared": 1},
        {"id": 1, "flag": 1},
        {"id": 1.0},
        {"id": 1, "amount": "1.5"},
        {"id": 1, "tags": [1]},
        {"id": 1, "address": {"city": "x", "street": "y"}},
        {"id": 1, "address": {"city": None}},
        {"id": 1, "odd name-ü": None},
    ]
    assert reader().read(body([good, {"name": "x"}])) is None  # no key: the envelope names it the usual way
    for misfit in misfits:
        assert reader().read(body([good, misfit])) is None, misfit
        assert not PageChecker(SCHEMA)(DECODER.decode(body([good, misfit]))["data"]), misfit


def test_bodies_it_leaves_to_the_usual_way() -> None:
    pages = reader()
    assert pages.read(b'{"data": [{"id": 1},\n{"id": 2}]}') is None  # a record's bytes would span lines
    assert pages.read(b'{"other": []}') is None  # no selector: the usual way names it
    assert pages.read(b'{"data": {"id": 1}}') is None
    assert pages.read(b"[]") is None
    assert pages.read(b'{"data": [{"id": 1, "name": "\xff"}]}') is None  # not UTF-8: counted the usual way


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"id": {"type": "integer"}, "x": {"type": "string", "anyOf": [{}]}}},
        {"type": "object", "properties": {"id": {"type": "integer"}, "x": {"type": "date"}}},
        {"type": "object", "properties": {"x": {"type": "string"}}},  # the key is not declared
        {"type": "object", "properties": {"id": {"type": "integer"}, 'quote"d': {"type": "string"}}},
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "o": {
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "additionalProperties": True,
                },
            },
        },
    ],
)
def test_schemas_it_cannot_express_take_the_usual_way(schema: dict) -> None:
    assert TypedPages.of(schema, "data", ["id"]) is None


def test_digests_agree_on_numbers_read_as_floats_and_as_decimals() -> None:
    record = {"id": 2**70, "amount": 0.1000000000000000055511151231257827, "name": "x"}
    content = (
        b'{"data":[{"id":1180591620717411303424,"amount":0.1000000000000000055511151231257827,"name":"x"}]}'
    )
    read = reader().read(content)
    assert read is not None
    (typed_record,), (raw,) = read
    assert isinstance(typed_record, TypedRecord)
    assert raw == content[9:-2]  # the digits as sent
    exact = DECODER.decode(content)["data"][0]
    assert exact["amount"] == Decimal("0.1000000000000000055511151231257827")
    assert record_digest(typed_record) == record_digest(exact) == record_digest(record)


@pytest.mark.parametrize(
    "record",
    [
        b'{"id":1,"amount":5}',  # an integer where numbers go stays an integer
        b'{"id":1,"amount":-0.0,"name":null}',
        b'{"id":1,"amount":1e-7,"tags":["\\u00fc","\xc3\xbc"]}',
        b'{"id":1,"address":{"zip":null,"city":"K"},"extra":{"n":1.25,"l":[1,{"m":null}]},"anything":true}',
        b'{"odd name-\xc3\xbc":7,"id":1}',
    ],
)
def test_a_record_read_typed_digests_as_its_dict(record: bytes) -> None:
    content = b'{"data":[' + record + b"]}"
    read = reader().read(content)
    assert read is not None
    assert record_digest(read[0][0]) == record_digest(DECODER.decode(content)["data"][0])


def test_the_bytes_of_any_part_of_the_page_parsed_last() -> None:
    from tapkit.body import RawSlices

    records = [{"id": i} for i in range(5)]
    raw = [b'{"id":%d}' % i for i in range(5)]
    slices = RawSlices()
    slices.keep(records, raw)
    assert slices.lines(records) == raw
    assert slices.lines(records[2:]) == raw[2:]  # the page less the records it re-reads
    r = records
    assert slices.lines([r[0], r[2], r[4]]) == [raw[0], raw[2], raw[4]]  # one a move put out of sight
    assert slices.lines([r[3], r[4]]) == raw[3:]
    assert slices.lines([r[1], r[4]]) == [raw[1], raw[4]]
    assert slices.lines([r[4], {"id": 4}]) is None  # a record of no page parsed here
    assert slices.lines([]) == []
