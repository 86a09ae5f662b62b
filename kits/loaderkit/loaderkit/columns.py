"""Columns from a stream's JSON schema: one kind per top-level property, the same for every database.

Kinds: integer, number, boolean, string, timestamp (`format: date-time`), date, time, json (objects, arrays
and properties whose types mix in ways no scalar column holds). Each warehouse maps a kind to its own type.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class Kind(enum.StrEnum):
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    STRING = "string"
    TIMESTAMP = "timestamp"
    DATE = "date"
    TIME = "time"
    JSON = "json"


# The widenings a later schema may ask for: the column's type changes, no value loses anything (a
# value widened to JSON becomes its JSON: a string "a" the JSON string "a").
# Anything else (a string column becoming an integer, ...) is refused with a clear error.
WIDENINGS: frozenset[tuple[Kind, Kind]] = frozenset(
    {(Kind.INTEGER, Kind.NUMBER)}
    | {(k, wide) for wide in (Kind.STRING, Kind.JSON) for k in Kind if k is not wide}
)

_FORMATS = {"date-time": Kind.TIMESTAMP, "date": Kind.DATE, "time": Kind.TIME}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind


def _types(prop: Mapping[str, Any]) -> list[str]:
    """The non-null JSON types a property allows (anyOf/oneOf branches included)."""
    found: list[str] = []
    declared = prop.get("type")
    if isinstance(declared, str):
        found.append(declared)
    elif isinstance(declared, list):
        found.extend(t for t in declared if isinstance(t, str))
    for key in ("anyOf", "oneOf"):
        for branch in prop.get(key) or ():
            if isinstance(branch, Mapping):
                found.extend(_types(branch))
    if not found and ("properties" in prop):
        found.append("object")
    return list(dict.fromkeys(t for t in found if t != "null"))


def _format(prop: Mapping[str, Any]) -> str | None:
    if prop.get("format"):
        return str(prop["format"])
    for key in ("anyOf", "oneOf"):
        for branch in prop.get(key) or ():
            if isinstance(branch, Mapping) and branch.get("format") and "string" in _types(branch):
                return str(branch["format"])
    return None


def kind_of(prop: Mapping[str, Any]) -> Kind:
    """The column kind of one JSON-schema property."""
    types = set(_types(prop))
    if types == {"string"}:
        return _FORMATS.get(_format(prop) or "", Kind.STRING)
    if types == {"integer"}:
        return Kind.INTEGER
    if types and types <= {"integer", "number"}:
        return Kind.NUMBER
    if types == {"boolean"}:
        return Kind.BOOLEAN
    # objects, arrays, no type at all, or a mix (say string and integer): kept as JSON, value for value
    return Kind.JSON


def columns_from_schema(schema: Mapping[str, Any]) -> list[Column]:
    """One column per top-level property, in the schema's order."""
    return [Column(name, kind_of(prop or {})) for name, prop in (schema.get("properties") or {}).items()]


def changes(
    existing: Mapping[str, Kind | None],
    wanted: Iterable[Column],
    widenings: frozenset[tuple[Kind, Kind]] = WIDENINGS,
) -> tuple[list[Column], list[Column], list[str]]:
    """Compare a table's columns with a schema's: (to add, to widen, refusals as sentences).

    `existing` maps column name to its kind, None when the table's type is none of ours (a table made by
    someone else): such a column is used as it is. `widenings`: the changes the database makes without
    losing a value (WIDENINGS unless the warehouse says more).
    """
    add, widen, refused = [], [], []
    for column in wanted:
        if column.name not in existing:
            add.append(column)
            continue
        have = existing[column.name]
        if have is None or have == column.kind:
            continue
        if (have, column.kind) in widenings:
            widen.append(column)
        else:
            refused.append(
                f"column {column.name!r} is {have} in the table but {column.kind} in the new schema, "
                "and that change would lose values (only integer to number, and anything to string or "
                "to JSON, widen)"
            )
    return add, widen, refused
