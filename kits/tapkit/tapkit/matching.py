"""Finding the records last written in a page that re-reads them: by key and by content.

Each page of a stream with an overlap is requested k records before where the previous one ended, and
should start with the last k records written, in order. ``locate`` says where the latest record written
that the page still holds is, as a run of the same records (primary key plus a digest of the whole
record, so a listing that repeats an id under another record cannot fool it), or why it is not there.
A pure function of the records: the paginator decides what to do with the answer.
"""

from __future__ import annotations

import hashlib
import json
import typing as t
from dataclasses import dataclass
from decimal import Decimal

import orjson

from tapkit.typed import TypedRecord

Key = t.Callable[[dict], t.Any]


def _canonical(value: t.Any) -> t.Any:
    # A number parsed as Decimal digests as the float a plain parser would give, so the same record
    # digests the same on a page read exactly and on a page read the fast way.
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    return str(value)


def record_digest(record: t.Any) -> str:
    """A digest of a record's whole content, stable across runs (it is kept in the state)."""
    if isinstance(record, TypedRecord):  # read into the schema's types (tapkit.typed): the same content
        record = record.as_builtins()
    try:
        data = orjson.dumps(record, default=_canonical, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        data = json.dumps(
            record, default=_canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@dataclass(frozen=True)
class Known:
    """A record written before, as a resume state remembers it (no digest in an older state)."""

    key: t.Any
    digest: str | None


Written = dict | Known  # a record written in this run, or one a resume state remembers


def hashable(key: t.Any) -> t.Any:
    return tuple(key) if isinstance(key, list) else key


def key_of(item: Written, key: Key) -> t.Any:
    return item.key if isinstance(item, Known) else key(item)


def digest_of(item: Written) -> str | None:
    return item.digest if isinstance(item, Known) else record_digest(item)


def same(item: Written, record: dict, key: Key) -> bool:
    """``record`` is the record written as ``item``: same key, and same content where it is known."""
    if key_of(item, key) != key(record):
        return False
    digest = digest_of(item)
    return digest is None or digest == record_digest(record)


@dataclass(frozen=True)
class Match:
    """Where the written records are in a page: ``index`` of the latest one the page still holds, and
    how many written after it are ``gone`` from it; or no ``index`` and ``why`` not."""

    index: int | None
    gone: int = 0
    why: str = ""


def locate(
    tail: t.Sequence[Written], records: list[dict], offset: int, *, expected: int, run: int, key: Key
) -> Match:
    """Find ``tail`` (the last records written, oldest first) in ``records``, the page at ``offset``. It
    should start with
    the last ``expected`` of them; failing that, the latest written record still in the page is found as
    a run of up to ``run`` records, and must be in it exactly once."""
    if expected <= min(len(tail), len(records)) and all(
        same(tail[i - expected], records[i], key) for i in range(expected)
    ):
        return Match(expected - 1)
    positions: dict[t.Any, list[int]] = {}
    for j, record in enumerate(records):
        positions.setdefault(hashable(key(record)), []).append(j)
    for gone in range(len(tail)):
        last = len(tail) - 1 - gone
        found = [
            j
            for j in positions.get(hashable(key_of(tail[last], key)), ())
            if all(same(tail[last - i], records[j - i], key) for i in range(min(run, last + 1, j + 1)))
        ]
        if len(found) == 1:
            return Match(found[0], gone)
        if found:
            return Match(None, why=f"found at {len(found)} places in the page at offset {offset}")
    return Match(None, why=f"not in the page at offset {offset} ({len(records)} records)")
