"""What the API sends against what the schema declares: JSON-schema types inferred from records, merged
into a declared schema (widening, never narrowing), the differences named, and a cheap per-page check.

- :func:`infer` types one value (every inferred type nullable; ``format: date-time``/``date`` where the
  string parses as one; objects and arrays typed recursively).
- :func:`merge` widens a declared schema by what was seen: new properties added, types joined into a
  union (``integer`` gives way to ``number``), a ``format`` dropped where a value did not have it. Where the
  declared schema already covers what was seen (:func:`covers`), it comes back unchanged.
- :func:`differences` names what a seen value has that the schema lacks (undeclared properties, type
  conflicts), as :class:`Difference` rows; :class:`DriftReport` collects them per stream for discovery.
- :class:`PageChecker` tells whether a page of records fits a schema (no key it does not declare, at any
  depth, no value of another type) with one C-level pass per property over the page: the price of a sync
  that does not drift. Only a page that does not fit goes record by record.
"""

from __future__ import annotations

import json
import re
import typing as t
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import chain, repeat
from operator import itemgetter

Schema = dict[str, t.Any]

_NULL = "null"
# JSON-schema type -> the Python classes a JSON decoder gives for it
_CLASSES: dict[str, tuple[type, ...]] = {
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
        return {"type": [_NULL]}
    schema: Schema = {"type": [kind, _NULL]}
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
    return not types or kind in types or kind == _NULL or (kind == "integer" and "number" in types)


def covers(declared: Schema, seen: Schema) -> bool:
    """True when every value ``seen`` describes fits ``declared`` (nulls always fit: absence is no drift)."""
    declared_types = types_of(declared)
    if not declared_types:
        return True
    seen_types = types_of(seen)
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
            return f"property '{self.path}' is not in the schema (arrived: {self.example})"
        return (
            f"property '{self.path}' arrived as {'/'.join(self.seen)} ({self.example}), "
            f"the schema says {'/'.join(self.declared)}"
        )


def _example(value: t.Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def differences(declared: Schema, value: t.Any, path: str = "") -> list[Difference]:
    """What ``value`` has that ``declared`` does not allow, property by property."""
    found: list[Difference] = []
    types = types_of(declared)
    kind = type_name(value)
    if not types:
        return found
    if not _allows(types, kind):
        found.append(Difference(path or "(record)", "type", tuple(types), (kind,), _example(value)))
        return found
    fmt = _date_format(declared)
    if kind == "string" and fmt and _format_of(value) != fmt:
        found.append(Difference(path, "type", (f"string ({fmt})",), (f"string, not {fmt}",), _example(value)))
    elif kind == "object" and "properties" in declared:
        props = declared["properties"]
        for name, sub in value.items():
            where = f"{path}.{name}" if path else name
            if name in props:
                found += differences(props[name], sub, where)
            elif not declared.get("additionalProperties"):
                found.append(Difference(where, "undeclared", (), (type_name(sub),), _example(sub)))
    elif kind == "array" and isinstance(declared.get("items"), dict):
        for item in value:
            found += differences(declared["items"], item, f"{path}[]")
    return found


def _paths(schema: Schema, prefix: str = "") -> t.Iterator[str]:
    for name, sub in schema.get("properties", {}).items():
        where = f"{prefix}.{name}" if prefix else name
        yield where
        if isinstance(sub, dict):
            yield from _paths(sub, where)
            if isinstance(sub.get("items"), dict):
                yield from _paths(sub["items"], f"{where}[]")


def _seen_paths(value: t.Any, prefix: str = "") -> t.Iterator[str]:
    if isinstance(value, dict):
        for name, sub in value.items():
            where = f"{prefix}.{name}" if prefix else name
            if sub is not None:
                yield where
            yield from _seen_paths(sub, where)
    elif isinstance(value, list):
        for item in value:
            yield from _seen_paths(item, f"{prefix}[]")


@dataclass
class StreamDrift:
    """What the sampled records of one stream showed against its declared schema."""

    stream: str
    sampled: int = 0
    undeclared: dict[str, list[str]] = field(default_factory=dict)  # path -> types seen
    conflicts: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # path -> declared, seen
    never_seen: list[str] = field(default_factory=list)
    error: str | None = None  # why the stream could not be sampled

    def note(self, declared: Schema, records: list[dict]) -> None:
        seen: set[str] = set()
        for record in records:
            seen.update(_seen_paths(record))
            for diff in differences(declared, record):
                if diff.kind == "undeclared":
                    kinds = self.undeclared.setdefault(diff.path, [])
                else:
                    entry = self.conflicts.setdefault(
                        diff.path, {"declared": list(diff.declared), "seen": []}
                    )
                    kinds = entry["seen"]
                kinds.extend(k for k in diff.seen if k not in kinds)
        self.sampled += len(records)
        self.never_seen = [p for p in _paths(declared) if p not in seen]

    @property
    def drifted(self) -> bool:
        return bool(self.undeclared or self.conflicts)


@dataclass
class DriftReport:
    """Per stream: properties sent but not declared, declared but never seen, type conflicts."""

    streams: list[StreamDrift] = field(default_factory=list)

    def to_dict(self) -> dict[str, t.Any]:
        return {
            "streams": {
                s.stream: {
                    "sampled_records": s.sampled,
                    "undeclared": s.undeclared,
                    "type_conflicts": s.conflicts,
                    "never_seen": s.never_seen,
                    **({"error": s.error} if s.error else {}),
                }
                for s in self.streams
            }
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        lines = ["# Schema drift report", ""]
        lines.append("| stream | sampled | sent, not declared | type conflicts | declared, never seen |")
        lines.append("|---|---|---|---|---|")
        for s in self.streams:
            sent = ", ".join(f"`{p}` ({'/'.join(k)})" for p, k in s.undeclared.items()) or "-"
            conflicts = (
                ", ".join(
                    f"`{p}` ({'/'.join(c['declared'])} -> {'/'.join(c['seen'])})"
                    for p, c in s.conflicts.items()
                )
                or "-"
            )
            never = ", ".join(f"`{p}`" for p in s.never_seen) or "-"
            sampled = f"not sampled: {s.error}" if s.error else str(s.sampled)
            lines.append(f"| {s.stream} | {sampled} | {sent} | {conflicts} | {never} |")
        return "\n".join(lines) + "\n"

    def summary_lines(self) -> list[str]:
        """One line per stream, for stderr."""
        out = []
        for s in self.streams:
            if s.error:
                out.append(f"stream '{s.stream}': not sampled: {s.error}")
                continue
            parts = [f"{s.sampled} records sampled"]
            if s.undeclared:
                parts.append(f"sent but not declared: {', '.join(s.undeclared)}")
            if s.conflicts:
                parts.append(f"type conflicts: {', '.join(s.conflicts)}")
            if s.never_seen:
                parts.append(f"{len(s.never_seen)} declared properties never seen")
            if not s.drifted:
                parts.append("the schema covers every record")
            out.append(f"stream '{s.stream}': " + "; ".join(parts))
        return out


# -- the fast check ---------------------------------------------------------------------------------------


def _classes(types: list[str]) -> frozenset[type]:
    return frozenset(c for kind in [*types, _NULL] for c in _CLASSES.get(kind, ()))


@dataclass(frozen=True)
class _Node:
    """A schema read once for :class:`PageChecker`: what a value of it may be."""

    classes: frozenset[type] | None  # None: anything
    declared: frozenset[str] | None  # an object's keys (None: not an object schema, or open)
    properties: tuple[tuple[str, _Node], ...] = ()  # the ones with a type to check
    items: _Node | None = None
    # every checked property's value of an object in one C call: itemgetter(*names) (a 1-tuple for one)
    row: t.Callable[..., tuple] | None = None

    @classmethod
    def of(cls, schema: t.Any) -> _Node:
        if not isinstance(schema, dict) or not types_of(schema):
            return cls(None, None)
        types = types_of(schema)
        props = schema.get("properties") if "object" in types else None
        items = schema.get("items") if "array" in types else None
        checked = tuple((k, n) for k, v in (props or {}).items() if (n := cls.of(v)).classes is not None)
        names = [k for k, _ in checked]
        row: t.Callable[..., tuple] | None = None
        if len(names) == 1:
            row = lambda obj, get=itemgetter(names[0]): (get(obj),)  # noqa: E731
        elif names:
            row = itemgetter(*names)
        return cls(
            _classes(types),
            frozenset(props) if isinstance(props, dict) and not schema.get("additionalProperties") else None,
            checked,
            cls.of(items) if isinstance(items, dict) else None,
            row,
        )

    def fits(self, values: t.Sequence[t.Any]) -> bool:
        """Every value fits: one C-level pass per property over the page's column (map, set, zip)."""
        if self.classes is None:
            return True
        classes = set(map(type, values))
        if not classes <= self.classes:
            return False
        if dict in classes and (self.declared is not None or self.properties):
            objects = values if len(classes) == 1 else [v for v in values if v.__class__ is dict]
            if self.declared is not None and not all(map(self.declared.issuperset, objects)):
                return False
            if not all(
                node.fits(column) for column, node in zip(self._columns(objects), self._nodes, strict=True)
            ):
                return False
        if list in classes and self.items is not None and self.items.classes is not None:
            items = list(chain.from_iterable(v for v in values if v.__class__ is list))
            if not self.items.fits(items):
                return False
        return True

    @property
    def _nodes(self) -> list[_Node]:
        return [node for _, node in self.properties]

    def _columns(self, objects: t.Sequence[dict]) -> t.Iterable[t.Sequence[t.Any]]:
        """The values of each checked property, a column per property; absent ones as None."""
        if not self.properties:
            return ()
        assert self.row is not None
        try:
            rows = list(map(self.row, objects))  # every object has every property: the usual page
        except KeyError:
            n = len(objects)
            present = set(chain.from_iterable(objects))
            return [
                list(map(dict.get, objects, repeat(name, n))) if name in present else ()
                for name, _ in self.properties
            ]
        if not rows:
            return [()] * len(self.properties)
        return list(zip(*rows, strict=True))


class PageChecker:
    """``checker(records) -> True`` when every record of the page fits the schema (no key the schema does
    not declare, at any depth; no value of another type; nulls always fit). Per property one C-level pass
    over the page's column; no inference, no per-record Python for a page that fits."""

    def __init__(self, schema: Schema) -> None:
        self._root = _Node.of({**schema, "type": ["object"]})

    def __call__(self, records: list[dict]) -> bool:
        return self._root.fits(records)
