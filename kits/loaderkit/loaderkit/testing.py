"""Singer messages written by hand, for the tests and benchmarks of loaders built on the kit."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def schema(stream: str, properties: dict[str, Any], keys: Iterable[str] = ("id",)) -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": list(keys),
    }


def record(stream: str, **values: Any) -> dict[str, Any]:
    return {"type": "RECORD", "stream": stream, "record": values}


def state(**bookmarks: Any) -> dict[str, Any]:
    return {"type": "STATE", "value": {"bookmarks": bookmarks}}


def lines(messages: Iterable[dict[str, Any] | str]) -> str:
    """Messages as JSON lines; a str is a line written by hand (say, a number with 19 digits)."""
    return "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages)
