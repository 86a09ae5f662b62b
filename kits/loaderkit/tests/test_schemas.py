"""A malformed SCHEMA message is refused by the reader on one line naming the stream and what is wrong
(loaderkit.schemas), before singer-sdk or the kit's column mapping read it; a well-formed one passes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loaderkit.errors import LoadError
from loaderkit.reader import BulkReader

GOOD_PROPS: dict[str, Any] = {
    "id": {"type": "integer"},
    "name": {"type": ["string", "null"], "format": "email"},
    "address": {"type": "object", "properties": {"city": {"type": "string"}}},
    "tags": {"type": "array", "items": {"type": "string"}},
    "either": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
    "anything": {},
}


def schema_line(schema: Any, keys: Any = ("id",)) -> bytes:
    message = {"type": "SCHEMA", "stream": "orders", "schema": schema, "key_properties": keys}
    return json.dumps(message).encode()


def test_a_well_formed_schema_passes() -> None:
    message = BulkReader().deserialize_json(schema_line({"type": "object", "properties": GOOD_PROPS}, ["id"]))
    assert message["schema"]["properties"] == GOOD_PROPS


BAD = [
    ("not-an-object", "notobject", ["id"], 'the schema is "notobject", not a JSON object'),
    ("no-properties", {"type": "object"}, ["id"], "the schema has no 'properties'"),
    ("properties-a-list", {"properties": [1]}, ["id"], "the schema's 'properties' is [1], not an object"),
    ("property-a-number", {"properties": {"id": {}, "x": 5}}, ["id"], "property x is 5, not an object"),
    ("property-true", {"properties": {"x": True}}, [], "property x is true, not an object"),
    ("type-a-number", {"properties": {"x": {"type": 5}}}, [], "property x: 'type' is 5, not a JSON type"),
    ("type-unknown", {"properties": {"x": {"type": ["str"]}}}, [], "'type' is [\"str\"], not a JSON type"),
    ("format", {"properties": {"x": {"type": "string", "format": 7}}}, [], "'format' is 7, not a string"),
    ("anyOf", {"properties": {"x": {"anyOf": 5}}}, [], "property x: 'anyOf' is 5, not a list of schemas"),
    ("anyOf-branch", {"properties": {"x": {"anyOf": [3]}}}, [], "property x anyOf[0] is 3, not an object"),
    (
        "nested",
        {"properties": {"a": {"type": "object", "properties": {"b": []}}}},
        [],
        "property a.b is [], not an object",
    ),
    (
        "items",
        {"properties": {"a": {"type": "array", "items": 1}}},
        [],
        "property a items is 1, not an object",
    ),
    ("keys", {"properties": {"id": {}}}, "id", 'key_properties is "id", not a list of property names'),
]


@pytest.mark.parametrize(("schema", "keys", "said"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_malformed_schema_is_refused_naming_stream_and_what(schema: Any, keys: Any, said: str) -> None:
    reader = BulkReader()
    reader.line_number = 7
    with pytest.raises(LoadError) as caught:
        reader.deserialize_json(schema_line(schema, keys))
    message = str(caught.value)
    assert message.startswith("stream 'orders': line 7: malformed SCHEMA: "), message
    assert said in message, message
    assert "\n" not in message
