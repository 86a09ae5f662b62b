"""Fault injection: what can go wrong, on which path, and when.

Spec syntax (CLI ``--fault``; also accepted as ``{"spec": "..."}`` by ``POST /_sandbox/faults``)::

    SPEC   := WHAT [ "," KEY "=" VALUE ]*
    WHAT   := an HTTP status (429, 500, 502, 503, 504, 401, 403, 404, ...)
            | slow | drop | not_json | html | no_selector
    KEYS   := path=/v1/tasks     served path, "*" (default) = every API path
              count=N            only the next N matching requests, then off
              on=1+2+5 | on=3-6  1-based request numbers on the path (since start/reset)
              rate=0.1           seeded fraction of requests (with seed=S, default 0)
              retry_after=2      Retry-After header in seconds (429/503)
              retry_after_date=2 Retry-After as an HTTP date this many seconds in the future
              delay=5            seconds, for slow
              variant=items|error  body of no_selector: {"items": [...]} or {"error": "..."}

Examples: ``503,path=/v1/tasks,count=3``  ``429,retry_after=2,on=1+2``  ``500,rate=0.1,seed=7``
``slow,delay=5,count=1``  ``drop,count=1``  ``html,path=/v2/leads``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

KINDS = ("status", "slow", "drop", "not_json", "html", "no_selector")


@dataclass(kw_only=True)
class Fault:
    """One fault rule. Conditions (path, on_requests, rate, count) must all hold for it to fire."""

    kind: str = "status"
    status: int | None = None  # kind="status": the status to answer (default 503)
    path: str = "*"  # served path without query string, or "*" for every API path
    count: int | None = None  # fire for the next N matching requests only
    on_requests: Iterable[int] | None = None  # 1-based request numbers on that path
    rate: float | None = None  # seeded probability per matching request
    seed: int = 0
    retry_after: str | None = None  # Retry-After header value in seconds
    retry_after_date: float | None = None  # Retry-After as an HTTP date this many seconds ahead
    delay_s: float = 0.0  # kind="slow"
    variant: str = "items"  # kind="no_selector": "items" or "error"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.kind == "status" and self.status is None:
            self.status = 503
        if self.status is not None and not 100 <= int(self.status) <= 599:
            raise ValueError(f"bad status {self.status!r}")
        if self.on_requests is not None:
            self.on_requests = frozenset(int(n) for n in self.on_requests)
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        if self.count is not None and self.count < 0:
            raise ValueError("count must be >= 0")
        if self.retry_after is not None:
            self.retry_after = str(self.retry_after)
        if self.variant not in ("items", "error"):
            raise ValueError("variant must be 'items' or 'error'")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.on_requests is not None:
            d["on_requests"] = sorted(self.on_requests)
        return d

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


def parse_fault_spec(spec: str) -> Fault:
    """Parse the compact CLI syntax (see the module docstring) into a :class:`Fault`."""
    head, *pairs = [p.strip() for p in spec.split(",")]
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
        if key == "path":
            kw["path"] = value
        elif key == "count":
            kw["count"] = int(value)
        elif key in ("on", "on_requests"):
            kw["on_requests"] = _parse_requests(value)
        elif key == "rate":
            kw["rate"] = float(value)
        elif key == "seed":
            kw["seed"] = int(value)
        elif key == "retry_after":
            kw["retry_after"] = value
        elif key == "retry_after_date":
            kw["retry_after_date"] = float(value)
        elif key in ("delay", "delay_s"):
            kw["delay_s"] = float(value)
        elif key == "variant":
            kw["variant"] = value
        elif key == "status":
            kw["status"] = int(value)
        else:
            raise ValueError(f"fault spec {spec!r}: unknown key {key!r}")
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
                if f.path != "*" and f.path != path:
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
