"""Schema drift: records that carry what the documents' reading (``fields.py``, the OpenAPI document) does
not: new properties, top-level and nested, a property whose type changes from some position on, fields
that only a few records have.

``--drift SPEC`` (repeatable), ``drift=[...]`` in Python::

    SPEC := add | retype   [ "," KEY "=" VALUE ]*
    KEYS := name=NAME        the property; dotted for a nested one: "reminder.snoozed" adds (or, for
                             retype, changes) a property inside the object property "reminder" (records
                             whose "reminder" is not an object are left alone)
            kind=KIND        add: the type of the new values: integer | number | string | boolean |
                             date-time | date | object (nested: {"level", "label", "geo": {"lat", "lon"}}) |
                             array (of objects) (default string)
            to=KIND          retype: string (the value as text: "120", "true", JSON for objects) |
                             number (integers become n + 0.5) | object ({"value": v}) (default string)
            resource=NAME    the resource (default "*": every resource of the API)
            start=K          the first position (0-based, in served order) it applies to (default 0)
            every=N          then every N-th position: start, start+N, ... (default 1: every one from start)

The values are a function of the position, so the same sandbox serves the same drifting records on every
request and ``records(name)`` is the truth of what was sent. Records no drift touches keep the byte-join
path; a touched record is decoded, changed and encoded again.

Examples: ``add,name=region,kind=string`` · ``add,name=reminder.snoozed,kind=boolean,resource=tasks`` ·
``add,name=profile,kind=object,resource=contacts`` · ``retype,name=owner_id,to=string,start=150`` ·
``add,name=legacy_code,kind=integer,start=4321,every=10000`` (one record in 10,000).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .faults import split_spec

KINDS = ("integer", "number", "string", "boolean", "date-time", "date", "object", "array")
RETYPES = ("string", "number", "object")


@dataclass(frozen=True)
class Drift:
    what: str  # add | retype
    name: str
    kind: str = "string"  # add: the new values' type; retype: what the value becomes
    resource: str = "*"
    start: int = 0
    every: int = 1

    def __post_init__(self) -> None:
        if self.what not in ("add", "retype"):
            raise ValueError(f"drift: unknown kind of drift {self.what!r} (expected add or retype)")
        if not self.name or any(not part for part in self.name.split(".")):
            raise ValueError(f"drift {self.what}: name= must name a property, got {self.name!r}")
        allowed = KINDS if self.what == "add" else RETYPES
        if self.kind not in allowed:
            key = "kind" if self.what == "add" else "to"
            raise ValueError(f"drift {self.what}: {key}={self.kind!r}: expected one of {', '.join(allowed)}")
        if self.start < 0 or self.every < 1:
            raise ValueError(f"drift {self.what}: start must be >= 0 and every >= 1")

    def to_spec(self) -> str:
        key = "kind" if self.what == "add" else "to"
        return (
            f"{self.what},name={self.name},{key}={self.kind},resource={self.resource},"
            f"start={self.start},every={self.every}"
        )

    def applies_to(self, resource: str) -> bool:
        return self.resource in ("*", resource)

    def positions(self, offset: int, end: int) -> range:
        """The positions in ``[offset, end)`` this drift touches."""
        if end <= self.start:
            return range(0)
        first = self.start if offset <= self.start else offset + (-(offset - self.start)) % self.every
        return range(first, end, self.every)

    def apply(self, record: dict[str, Any], position: int) -> None:
        *parents, leaf = self.name.split(".")
        target: Any = record
        for parent in parents:
            target = target.get(parent) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            return
        if self.what == "add":
            target[leaf] = new_value(self.kind, position)
        elif leaf in target and target[leaf] is not None:
            target[leaf] = retyped(target[leaf], self.kind)


def new_value(kind: str, position: int) -> Any:
    """The value an added property of ``kind`` has at ``position``."""
    n = position + 1
    if kind == "integer":
        return n * 7
    if kind == "number":
        return n + 0.25
    if kind == "boolean":
        return n % 3 == 0
    if kind == "date-time":
        return (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n)).isoformat().replace("+00:00", "Z")
    if kind == "date":
        return (datetime(2024, 1, 1) + timedelta(days=n % 3000)).date().isoformat()
    if kind == "object":
        return {
            "level": n % 5,
            "label": f"tier é{n % 7}",
            "geo": {"lat": n % 90 + 0.5, "lon": -(n % 180) - 0.5},
        }
    if kind == "array":
        return [{"sku": f"S-{n}", "qty": n % 4}, {"sku": f"S-{n + 1}", "qty": 1}]
    return f"value {n} ✓"


def retyped(value: Any, to: str) -> Any:
    if to == "number":
        return value + 0.5 if isinstance(value, int) and not isinstance(value, bool) else value
    if to == "object":
        return {"value": value}
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(value)


def parse_drift_spec(spec: str) -> Drift:
    what, *pairs = split_spec(spec)
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"drift {spec!r}: expected KEY=VALUE, got {pair!r}")
        if key in ("kind", "to"):
            options["kind"] = value
        elif key in ("name", "resource"):
            options[key] = value
        elif key in ("start", "every"):
            try:
                options[key] = int(value)
            except ValueError:
                raise ValueError(f"drift {spec!r}: {key} must be an integer, got {value!r}") from None
        else:
            raise ValueError(f"drift {spec!r}: unknown key {key!r} (name, kind, to, resource, start, every)")
    if "name" not in options:
        raise ValueError(f"drift {spec!r}: name= is required")
    return Drift(what.strip(), **options)


def as_drift(value: Drift | str) -> Drift:
    return value if isinstance(value, Drift) else parse_drift_spec(value)


def drifted(chunk: list[bytes], offset: int, drifts: tuple[Drift, ...]) -> list[bytes]:
    """The records ``chunk`` (served from position ``offset`` on) with ``drifts`` applied."""
    end = offset + len(chunk)
    touched: dict[int, dict[str, Any]] = {}
    for drift in drifts:
        for position in drift.positions(offset, end):
            i = position - offset
            record = touched.get(i)
            if record is None:
                record = touched[i] = json.loads(chunk[i])
            drift.apply(record, position)
    if not touched:
        return chunk
    out = list(chunk)
    for i, record in touched.items():
        out[i] = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
    return out
