"""Column kinds from JSON schemas, and which type changes widen."""

from __future__ import annotations

import pytest

from loaderkit.columns import Column, Kind, changes, columns_from_schema, kind_of


@pytest.mark.parametrize(
    ("prop", "kind"),
    [
        ({"type": "integer"}, Kind.INTEGER),
        ({"type": ["integer", "null"]}, Kind.INTEGER),
        ({"type": ["number", "null"]}, Kind.NUMBER),
        ({"type": ["integer", "number"]}, Kind.NUMBER),
        ({"type": "boolean"}, Kind.BOOLEAN),
        ({"type": "string"}, Kind.STRING),
        ({"type": ["string", "null"], "format": "date-time"}, Kind.TIMESTAMP),
        ({"type": "string", "format": "date"}, Kind.DATE),
        ({"type": "string", "format": "time"}, Kind.TIME),
        ({"type": "string", "format": "email"}, Kind.STRING),
        ({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}, Kind.TIMESTAMP),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, Kind.JSON),
        ({"properties": {"a": {"type": "string"}}}, Kind.JSON),
        ({"type": ["array", "null"], "items": {"type": "integer"}}, Kind.JSON),
        ({"type": ["string", "integer"]}, Kind.JSON),
        ({}, Kind.JSON),
    ],
)
def test_kind_of(prop: dict, kind: Kind) -> None:
    assert kind_of(prop) is kind


def test_columns_keep_the_schema_order() -> None:
    schema = {"properties": {"b": {"type": "integer"}, "a": {"type": "string"}}}
    assert columns_from_schema(schema) == [Column("b", Kind.INTEGER), Column("a", Kind.STRING)]


def test_changes_add_widen_and_refuse() -> None:
    existing = {"id": Kind.INTEGER, "qty": Kind.INTEGER, "code": Kind.STRING, "theirs": None}
    wanted = [
        Column("id", Kind.INTEGER),
        Column("qty", Kind.NUMBER),
        Column("code", Kind.INTEGER),
        Column("theirs", Kind.BOOLEAN),
        Column("new", Kind.DATE),
    ]
    add, widen, refused = changes(existing, wanted)
    assert add == [Column("new", Kind.DATE)]
    assert widen == [Column("qty", Kind.NUMBER)]
    assert len(refused) == 1 and "'code' is string in the table but integer" in refused[0]
