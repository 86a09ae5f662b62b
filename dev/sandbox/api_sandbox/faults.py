"""Fault injection: what can go wrong, on which path, and when.

Spec syntax (CLI ``--fault``; also accepted as ``{"spec": "..."}`` by ``POST /_sandbox/faults``)::

    SPEC   := WHAT [ "," KEY "=" VALUE ]*     (in a VALUE, "\\," is a comma and "\\\\" a backslash)
    WHAT   := an HTTP status (429, 500, 502, 503, 504, 401, 403, 404, ...)
            | slow | drop | not_json | html | no_selector      infrastructure and envelope
            | cycle | page_offsets                            paging that misbehaves
            | bom | charset | bad_byte | field | huge          bodies read the hard way
            | redirect | trickle | echo                       HTTP that misbehaves
    KEYS   := path=/v1/tasks     served path, "*" (default) = every API path (not /_moved/...)
              count=N            only the next N matching requests, then off
              on=1+2+5 | on=3-6  1-based request numbers on the path (since start/reset)
              rate=0.1           seeded fraction of requests (with seed=S, default 0)
              retry_after=2      Retry-After header in seconds (429/503)
              retry_after_date=2 Retry-After as an HTTP date this many seconds in the future
              delay=5            seconds, for slow (default 0); seconds per byte, for trickle (default 1)
              variant=items|error  body of no_selector: {"items": [...]} or {"error": "..."}
              variant=head       trickle: the status line and headers a byte every delay, the body at once
              charset=utf-16     charset: the body's encoding, declared in Content-Type
              name=FIELD         field: the field to set; bad_byte, huge: the string field to hit
              value=RAW_JSON     field: the JSON text put in place of the value, byte for byte
              index=K            record K of the page (bad_byte, huge: default 0; field: default all)
              bytes=N            huge: the record is padded to N bytes (default 10000000)
              status=302         redirect: 301, 302 (default), 303, 307 or 308
              location=TEMPLATE  redirect: {scheme} {host} {port} {path} {query} {key_quoted}
                                 (default /_moved{path}?{query})
              pad=N              echo: N filler characters before the message

Examples: ``503,path=/v1/tasks,count=3``  ``429,retry_after=2,on=1+2``  ``500,rate=0.1,seed=7``
``slow,delay=5,count=1``  ``drop,count=1``  ``html,path=/v2/leads``  ``cycle,path=/v1/tasks``
``charset,charset=iso-8859-1``  ``field,name=amount,value=1234567890.123456789``
``redirect,status=307,location=http://localhost:{port}{path}?{query}``  ``trickle,delay=0.5,count=1``.
"""

from __future__ import annotations

import codecs
import json
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

KINDS = (
    "status",
    "slow",
    "drop",
    "not_json",
    "html",
    "no_selector",
    "cycle",
    "page_offsets",
    "bom",
    "charset",
    "bad_byte",
    "field",
    "huge",
    "redirect",
    "trickle",
    "echo",
)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
DEFAULT_LOCATION = "/_moved{path}?{query}"
DEFAULT_HUGE_BYTES = 10_000_000
# Every API path is also served under this prefix (same resource, same auth): the target of same-origin
# redirects. A fault with path "*" does not match there; name the prefixed path to target it.
MOVED_PREFIX = "/_moved"


@dataclass(kw_only=True)
class Fault:
    """One fault rule. Conditions (path, on_requests, rate, count) must all hold for it to fire."""

    kind: str = "status"
    status: int | None = None  # kind="status": the status (default 503); "redirect": 301..308 (default 302)
    path: str = "*"  # served path without query string, or "*" for every API path
    count: int | None = None  # fire for the next N matching requests only
    on_requests: Iterable[int] | None = None  # 1-based request numbers on that path
    rate: float | None = None  # seeded probability per matching request
    seed: int = 0
    retry_after: str | None = None  # Retry-After header value in seconds
    retry_after_date: float | None = None  # Retry-After as an HTTP date this many seconds ahead
    delay_s: float | None = None  # "slow", "status": seconds before the response (0); "trickle": a byte (1)
    variant: str = "items"  # kind="no_selector": "items" or "error"; kind="trickle": "head" trickles the head
    charset: str | None = None  # "charset": the encoding of the body and of the Content-Type parameter
    name: str | None = None  # "field": the field; "bad_byte", "huge": the string field to hit
    value: str | None = None  # "field": raw JSON text put in place of the value, byte for byte
    index: int | None = None  # record of the page: "bad_byte", "huge" (default 0), "field" (None = all)
    record_bytes: int | None = None  # "huge": size of the record in bytes (default 10,000,000)
    location: str | None = None  # "redirect": Location template (default "/_moved{path}?{query}")
    pad: int = 0  # "echo": filler characters before the message

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.kind == "status" and self.status is None:
            self.status = 503
        if self.kind == "redirect":
            self.status = 302 if self.status is None else int(self.status)
            if self.status not in REDIRECT_STATUSES:
                raise ValueError(f"a redirect status is one of {REDIRECT_STATUSES}, got {self.status}")
            if self.location is None:
                self.location = DEFAULT_LOCATION
        if self.status is not None and not 100 <= int(self.status) <= 599:
            raise ValueError(f"bad status {self.status!r}")
        if self.delay_s is None and self.kind in ("slow", "trickle"):
            self.delay_s = 1.0 if self.kind == "trickle" else 0.0
        if self.delay_s is not None and self.delay_s < 0:
            raise ValueError("delay must be >= 0")
        if self.on_requests is not None:
            self.on_requests = frozenset(int(n) for n in self.on_requests)
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        if self.count is not None and self.count < 0:
            raise ValueError("count must be >= 0")
        if self.retry_after is not None:
            self.retry_after = str(self.retry_after)
        if self.variant not in ("items", "error", "head"):
            raise ValueError("variant must be 'items' or 'error' (no_selector), or 'head' (trickle)")
        if self.index is not None and self.index < 0:
            raise ValueError("index must be >= 0")
        if self.pad < 0:
            raise ValueError("pad must be >= 0")
        self._check_body_options()

    def _check_body_options(self) -> None:
        if self.kind == "charset":
            if not self.charset:
                raise ValueError("a charset fault needs charset=NAME (e.g. utf-16, iso-8859-1)")
            try:
                codecs.lookup(self.charset)
            except LookupError:
                raise ValueError(f"unknown charset {self.charset!r}") from None
        if self.kind == "field":
            if not self.name or self.value is None:
                raise ValueError("a field fault needs name=FIELD and value=RAW_JSON_TEXT")
            try:
                json.loads(self.value)
            except ValueError:
                raise ValueError(f"value {self.value!r} is not a JSON text") from None
        if self.kind == "huge":
            if self.record_bytes is None:
                self.record_bytes = DEFAULT_HUGE_BYTES
            if self.record_bytes < 1:
                raise ValueError("bytes must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.on_requests is not None:
            d["on_requests"] = sorted(self.on_requests)
        return d

    def to_spec(self) -> str:
        """This fault in the spec syntax (``parse_fault_spec(f.to_spec()) == f``)."""
        head = str(self.status) if self.kind == "status" else self.kind
        parts = [head]
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "kind" or (f.name == "status" and self.kind == "status") or value == f.default:
                continue
            key = _SPEC_NAMES.get(f.name, f.name)
            text = "+".join(map(str, sorted(value))) if f.name == "on_requests" else str(value)
            parts.append(f"{key}={_escape(text)}")
        return ",".join(parts)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        if "spec" in data:
            return parse_fault_spec(str(data["spec"]))
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)


def _parse_requests(value: str) -> frozenset[int]:
    out: set[int] = set()
    for part in value.replace(";", "+").split("+"):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            out.update(range(int(a), int(b) + 1))
        else:
            out.add(int(part))
    return frozenset(out)


# spec key -> (Fault field, parser)
_SPEC_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "path": ("path", str),
    "count": ("count", int),
    "on": ("on_requests", _parse_requests),
    "on_requests": ("on_requests", _parse_requests),
    "rate": ("rate", float),
    "seed": ("seed", int),
    "retry_after": ("retry_after", str),
    "retry_after_date": ("retry_after_date", float),
    "delay": ("delay_s", float),
    "delay_s": ("delay_s", float),
    "variant": ("variant", str),
    "status": ("status", int),
    "charset": ("charset", str),
    "name": ("name", str),
    "value": ("value", str),
    "index": ("index", int),
    "bytes": ("record_bytes", int),
    "record_bytes": ("record_bytes", int),
    "location": ("location", str),
    "pad": ("pad", int),
}
_SPEC_NAMES = {"on_requests": "on", "delay_s": "delay", "record_bytes": "bytes"}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,")


def split_spec(spec: str) -> list[str]:
    """Split a spec on commas: ``\\,`` is a literal comma, ``\\\\`` a backslash, other backslashes stay."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(spec):
        ch = spec[i]
        if ch == "\\" and i + 1 < len(spec) and spec[i + 1] in ",\\":
            current.append(spec[i + 1])
            i += 2
            continue
        if ch == ",":
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current).strip())
    return parts


def parse_fault_spec(spec: str) -> Fault:
    """Parse the compact CLI syntax (see the module docstring) into a :class:`Fault`."""
    head, *pairs = split_spec(spec)
    kw: dict[str, Any] = {}
    if head.isdigit():
        kw["kind"] = "status"
        kw["status"] = int(head)
    elif head in KINDS:
        kw["kind"] = head
    else:
        raise ValueError(f"fault spec {spec!r}: expected a status code or one of {', '.join(KINDS[1:])}")
    for pair in pairs:
        if not pair:
            continue
        if "=" not in pair:
            raise ValueError(f"fault spec {spec!r}: expected key=value, got {pair!r}")
        key, value = (x.strip() for x in pair.split("=", 1))
        if key not in _SPEC_KEYS:
            raise ValueError(f"fault spec {spec!r}: unknown key {key!r}")
        name, parse = _SPEC_KEYS[key]
        kw[name] = parse(value)
    return Fault(**kw)


def as_fault(fault: Fault | str) -> Fault:
    """A :class:`Fault`, or a spec string in the CLI syntax."""
    return parse_fault_spec(fault) if isinstance(fault, str) else fault


class _Active:
    __slots__ = ("fault", "remaining", "rng")

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.remaining = fault.count
        self.rng = random.Random(fault.seed)


class FaultSet:
    """The active faults of a sandbox; thread-safe. The first fault whose conditions hold fires."""

    def __init__(self, faults: Iterable[Fault | str] = ()) -> None:
        self._lock = threading.Lock()
        self._active: list[_Active] = [_Active(as_fault(f)) for f in faults]

    def add(self, fault: Fault | str) -> None:
        with self._lock:
            self._active.append(_Active(as_fault(fault)))

    def clear(self) -> None:
        with self._lock:
            self._active = []

    def list(self) -> list[Fault]:
        with self._lock:
            return [a.fault for a in self._active]

    def __bool__(self) -> bool:
        return bool(self._active)

    def match(self, path: str, request_number: int) -> Fault | None:
        with self._lock:
            for a in self._active:
                f = a.fault
                if f.path != path and (f.path != "*" or path.startswith(MOVED_PREFIX + "/")):
                    continue
                if f.on_requests is not None and request_number not in f.on_requests:
                    continue
                if a.remaining is not None and a.remaining <= 0:
                    continue
                if f.rate is not None and a.rng.random() >= f.rate:
                    continue
                if a.remaining is not None:
                    a.remaining -= 1
                return f
        return None
