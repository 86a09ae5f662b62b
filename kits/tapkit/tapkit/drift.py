"""What the API sends against what the schema declares: JSON-schema types inferred from records, merged
into a declared schema (widening, never narrowing), the differences named, and a cheap per-page check.

- :func:`infer` types one value (every inferred type nullable; ``format: date-time``/``date`` where the
  string parses as one; objects and arrays typed recursively).
- :func:`merge` widens a declared schema by what was seen: new properties added, types joined into a
  union (``integer`` gives way to ``number``), a ``format`` dropped where a value did not have it. Where the
  declared schema already covers what was seen (:func:`covers`), it comes back unchanged.
- :func:`differences` names what a seen value has that the schema lacks (undeclared properties, type
  conflicts), as :class:`Difference` rows; :mod:`tapkit.drift_report` collects them per stream for
  discovery, and :mod:`tapkit.pagecheck` tells cheaply whether a whole page fits.
"""

from __future__ import annotations

import json
import re
import typing as t
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

Schema = dict[str, t.Any]

NULL = "null"
# JSON-schema type -> the Python classes a JSON decoder gives for it
JSON_CLASSES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float, Decimal),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _format_of(text: str) -> str | None:
    """``date-time`` or ``date`` when ``text`` parses as one (ISO 8601), else None."""
    try:
        if _DATE.match(text):
            date.fromisoformat(text)
            return "date"
        if _DATE_TIME.match(text):
            datetime.fromisoformat(text.replace("Z", "+00:00"))
            return "date-time"
    except ValueError:
        return None
    return None


def _date_format(schema: Schema) -> str | None:
    """The schema's ``format`` when it is one inference checks (date-time, date); others (email, uri) are
    the declarer's business."""
    fmt = schema.get("format")
    return fmt if fmt in ("date-time", "date") else None


def types_of(schema: Schema) -> list[str]:
    """The JSON types a schema allows (``[]``: any, the schema names none)."""
    kind = schema.get("type")
    if kind is None:
        return []
    return list(kind) if isinstance(kind, list) else [kind]


def type_name(value: t.Any) -> str:
    """The JSON type of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def infer(value: t.Any) -> Schema:
    """The JSON schema of one decoded value, nullable."""
    kind = type_name(value)
    if kind == "null":
        return {"type": [NULL]}
    schema: Schema = {"type": [kind, NULL]}
    if kind == "string":
        fmt = _format_of(value)
        if fmt:
            schema["format"] = fmt
    elif kind == "object":
        schema["properties"] = {k: infer(v) for k, v in value.items()}
    elif kind == "array":
        items: Schema | None = None
        for item in value:
            seen = infer(item)
            items = seen if items is None else merge(items, seen)
        schema["items"] = items if items is not None else {}
    return schema


def infer_records(records: t.Iterable[dict]) -> Schema:
    """One object schema covering every record."""
    merged: Schema = {"type": ["object"], "properties": {}}
    for record in records:
        merged = merge(merged, infer(record))
    return merged


def _allows(types: list[str], kind: str) -> bool:
    return not types or kind in types or kind == NULL or (kind == "integer" and "number" in types)


def _null_only(types: list[str]) -> bool:
    """The types of a value that was null (infer makes every other value's type nullable: a null it has
    not seen; only a null that arrived asks the declared type to allow it)."""
    return types == [NULL]


def covers(declared: Schema, seen: Schema) -> bool:
    """True when every value ``seen`` describes fits ``declared``. An absent property is no drift; a null
    is, where the declared type does not allow it (the SCHEMA before the record must validate it)."""
    declared_types = types_of(declared)
    if not declared_types:
        return True
    seen_types = types_of(seen)
    if _null_only(seen_types) and NULL not in declared_types:
        return False
    if not all(_allows(declared_types, kind) for kind in seen_types):
        return False
    fmt = _date_format(declared)
    if fmt and "string" in seen_types and seen.get("format") != fmt:
        return False
    if "object" in seen_types and "properties" in declared:
        props = declared["properties"]
        closed = not declared.get("additionalProperties")
        if closed and any(name not in props for name in seen.get("properties", {})):
            return False
        for name, sub in seen.get("properties", {}).items():
            if name in props and not covers(props[name], sub):
                return False
    if "array" in seen_types and isinstance(declared.get("items"), dict):
        return covers(declared["items"], seen.get("items") or {})
    return True


def _joined_types(declared: list[str], seen: list[str]) -> list[str]:
    joined = list(dict.fromkeys([*declared, *seen]))
    if "number" in joined and "integer" in joined:  # number covers integer: it takes integer's place
        joined.remove("number")
        joined[joined.index("integer")] = "number"
    return joined


def merge(declared: Schema, seen: Schema) -> Schema:
    """``declared`` widened to cover ``seen``; ``declared`` itself (unchanged) when it already does."""
    if covers(declared, seen):
        return declared
    # a new dict on the path to each change, the rest shared with ``declared`` (never changed in place)
    merged = dict(declared)
    declared_types, seen_types = types_of(declared), types_of(seen)
    merged["type"] = _joined_types(declared_types, seen_types)
    fmt = _date_format(declared)
    if fmt and "string" in seen_types and seen.get("format") != fmt:
        del merged["format"]
    elif "string" not in declared_types and "format" in seen:  # the first strings seen (after nulls)
        merged["format"] = seen["format"]
    if "object" in seen_types and "properties" in seen:
        props = merged["properties"] = dict(merged.get("properties", {}))
        for name, sub in seen["properties"].items():
            props[name] = merge(props[name], sub) if name in props else sub
    if "array" in seen_types and "items" in seen:
        items = merged.get("items")
        merged["items"] = merge(items, seen["items"]) if isinstance(items, dict) else seen["items"]
    return merged


def allow_nulls(schema: Schema, value: t.Any) -> Schema:
    """``schema`` with ``null`` added wherever ``value`` holds a null its type does not allow (``schema``
    itself when there is none). Read off the value: inference cannot tell a null that arrived inside an
    array from the nullability it gives every inferred type."""
    types = types_of(schema)
    if value is None:
        return {**schema, "type": [*types, NULL]} if types and NULL not in types else schema
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        props = schema["properties"]
        changed: dict[str, Schema] | None = None
        for name, sub in value.items():
            if isinstance(props.get(name), dict):
                widened = allow_nulls(props[name], sub)
                if widened is not props[name]:
                    changed = changed if changed is not None else dict(props)
                    changed[name] = widened
        return schema if changed is None else {**schema, "properties": changed}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = schema["items"]
        for item in value:
            items = allow_nulls(items, item)
        return schema if items is schema["items"] else {**schema, "items": items}
    return schema


# -- differences and the report -------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One way a value does not fit its schema: ``kind`` is ``undeclared`` or ``type``."""

    path: str  # dotted; "[]" for array items: "lines[].sku"
    kind: str
    declared: tuple[str, ...]  # the declared types (empty for an undeclared property)
    seen: tuple[str, ...]  # the types that arrived
    example: str  # the value that arrived, as JSON, cut short

    def line(self) -> str:
        if self.kind == "undeclared":
            return f"property {self.path!r} is not in the schema (arrived: {self.example})"
        return (
            f"property {self.path!r} arrived as {'/'.join(self.seen)} ({self.example}), "
            f"the schema says {'/'.join(self.declared)}"
        )


def example_of(value: t.Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def differences(declared: Schema, value: t.Any, path: str = "") -> list[Difference]:
    """What ``value`` has that ``declared`` does not allow, property by property."""
    found: list[Difference] = []
    types = types_of(declared)
    kind = type_name(value)
    if not types:
        return found
    if not _allows(types, kind) or (kind == NULL and NULL not in types):
        found.append(Difference(path or "(record)", "type", tuple(types), (kind,), example_of(value)))
        return found
    fmt = _date_format(declared)
    if kind == "string" and fmt and _format_of(value) != fmt:
        found.append(
            Difference(path, "type", (f"string ({fmt})",), (f"string, not {fmt}",), example_of(value))
        )
    elif kind == "object" and "properties" in declared:
        props = declared["properties"]
        for name, sub in value.items():
            where = f"{path}.{name}" if path else name
            if name in props:
                found += differences(props[name], sub, where)
            elif not declared.get("additionalProperties"):
                found.append(Difference(where, "undeclared", (), (type_name(sub),), example_of(sub)))
    elif kind == "array" and isinstance(declared.get("items"), dict):
        for item in value:
            found += differences(declared["items"], item, f"{path}[]")
    return found


def schema_paths(schema: Schema, prefix: str = "") -> t.Iterator[str]:
    for name, sub in schema.get("properties", {}).items():
        where = f"{prefix}.{name}" if prefix else name
        yield where
        if isinstance(sub, dict):
            yield from schema_paths(sub, where)
            if isinstance(sub.get("items"), dict):
                yield from schema_paths(sub["items"], f"{where}[]")


def seen_paths(value: t.Any, prefix: str = "") -> t.Iterator[str]:
    if isinstance(value, dict):
        for name, sub in value.items():
            where = f"{prefix}.{name}" if prefix else name
            if sub is not None:
                yield where
            yield from seen_paths(sub, where)
    elif isinstance(value, list):
        for item in value:
            yield from seen_paths(item, f"{prefix}[]")
