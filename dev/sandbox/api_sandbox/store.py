"""Record storage: pre-serialized bytes per record, pages built by joining byte slices.

A record is a pure function of (api, resource, seed, key). For speed with ``--records 1_000_000`` each
resource keeps a pool of seeded *variants*, each serialized once into a template with a hole for the id; a
record is ``template_before + id + template_after`` for the variant its key hashes to. Records are rendered
lazily (on first read) and cached, so start-up is instant and memory grows only with what is read.
Resources larger than ``CACHE_LIMIT`` records are rendered on every read instead (about 1 µs a record) so
that a million-record sandbox does not hold gigabytes of cached pages.

Integer keys start at 10 and step by 10; churn inserts keys in the gaps (never a multiple of 10), so the
original ("stable") keys are exactly the multiples of 10 still present.
"""

from __future__ import annotations

import json
import random
import threading
from array import array
from functools import lru_cache
from typing import Any

from .apis import APIS, ApiDef, ResourceDef
from .drift import Drift, drifted
from .fields import ID_STEP, ID_WIDTH

POOL_SIZE = 509
CACHE_LIMIT = 250_000  # cache rendered records of resources up to this size
_SENTINEL = "\x00@@ID@@\x00"


@lru_cache(maxsize=256)
def _templates(api_name: str, res_name: str, seed: int) -> tuple[tuple[bytes, bytes], ...]:
    res = APIS[api_name].resource(res_name)
    rng = random.Random(f"{api_name}/{res_name}/{seed}")
    out = []
    for _ in range(POOL_SIZE):
        ctx: dict[str, Any] = {}
        rec: dict[str, Any] = {"id": _SENTINEL}
        for fld in res.fields:
            rec[fld.name] = fld.gen(rng, ctx)
        text = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
        before, after = text.split(json.dumps(_SENTINEL), 1)
        out.append((before.encode(), after.encode()))
    return tuple(out)


class ResourceStore:
    """The current records of one resource, in ascending id order."""

    def __init__(
        self,
        api: ApiDef,
        res: ResourceDef,
        seed: int,
        count: int,
        selector: str,
        repeat_ids: tuple[int, int] | None = None,
        drifts: tuple[Drift, ...] = (),
    ) -> None:
        self.api = api
        self.res = res
        self.seed = seed
        self.lock = threading.Lock()
        # array of int64: 8 bytes a key instead of ~36 for a list of ints (matters at 1M records)
        self.keys = array("q", range(ID_STEP, ID_STEP * (count + 1), ID_STEP))
        self.cached = count <= CACHE_LIMIT
        self.blobs: list[bytes | None] = [None] * count if self.cached else []
        self._pending = count if self.cached else 0  # number of None entries in blobs
        self._salt = random.Random(f"salt/{api.name}/{res.name}/{seed}").randrange(1 << 30)
        self.prefix = f'{{"{selector}":['.encode()
        self._id_prefix = None if res.id_prefix is None else f'"{res.id_prefix}_'.encode()
        self._tpl: tuple[tuple[bytes, bytes], ...] | None = None
        # (every, back): the record at position p (1-based) with p % every == 0 carries the id of the
        # record at p - back, its other fields its own
        self.repeat_ids = repeat_ids
        # schema drift (drift.py): applied to the records served, position by position
        self.drifts = tuple(d for d in drifts if d.applies_to(res.name))

    # -- rendering --------------------------------------------------------------------------------------

    def format_id(self, key: int) -> int | str:
        if self.res.id_prefix is None:
            return key
        return f"{self.res.id_prefix}_{key:0{ID_WIDTH}d}"

    def _render(self, key: int, id_key: int | None = None) -> bytes:
        """Record ``key`` (with the id of ``id_key`` if given: then never the bytes of record ``id_key``)."""
        tpl = self._tpl
        if tpl is None:
            tpl = self._tpl = _templates(self.api.name, self.res.name, self.seed)
        variant = self._variant(key)
        if id_key is None:
            id_key = key
        else:
            other = tpl[self._variant(id_key)]
            for _ in range(POOL_SIZE):
                if tpl[variant] != other:
                    break
                variant = (variant + 1) % POOL_SIZE
        before, after = tpl[variant]
        if self._id_prefix is None:
            return b"%s%d%s" % (before, id_key, after)
        return b'%s%s%09d"%s' % (before, self._id_prefix, id_key, after)

    def _variant(self, key: int) -> int:
        return (((key * 2654435761) >> 5) ^ self._salt) % POOL_SIZE

    def _fill(self, start: int, end: int) -> None:
        blobs, keys, render = self.blobs, self.keys, self._render
        for i in range(start, end):
            if blobs[i] is None:
                blobs[i] = render(keys[i])
                self._pending -= 1

    # -- reading ----------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.keys)

    def records_at(self, offset: int, limit: int | None) -> list[bytes]:
        """The serialized records from ``offset`` on (``limit`` of them, or all when None)."""
        with self.lock:
            end = len(self.keys) if limit is None else min(offset + limit, len(self.keys))
            if offset >= end:
                return []
            if not self.cached:
                render = self._render
                chunk = [render(k) for k in self.keys[offset:end]]
            else:
                if self._pending:
                    self._fill(offset, end)
                chunk = self.blobs[offset:end]  # type: ignore[assignment]  # filled: no None left
            if self.repeat_ids is not None:
                every, back = self.repeat_ids
                keys = self.keys
                for p in range((offset // every + 1) * every, end + 1, every):
                    chunk[p - 1 - offset] = self._render(keys[p - 1], keys[p - 1 - back])
            if self.drifts:
                chunk = drifted(chunk, offset, self.drifts)
            return chunk

    def window(self, start: int, size: int) -> list[bytes]:
        """``size`` records from position ``start`` of the listing taken as a cycle (wrapping at the end)."""
        out: list[bytes] = []
        while len(out) < size:
            n = len(self.keys)
            if n == 0:
                break
            got = self.records_at((start + len(out)) % n, size - len(out))
            if not got:  # churn shrank the listing meanwhile: go on from its start
                start = -len(out)
            out += got
        return out

    def page(self, offset: int, limit: int | None) -> tuple[bytes, int]:
        """The JSON body of the page starting at ``offset`` (all records when ``limit`` is None)."""
        chunk = self.records_at(offset, limit)
        return b"".join((self.prefix, b",".join(chunk), b"]}")), len(chunk)

    def ids(self, stable: bool = False) -> list[Any]:
        """Ids in served order (repeated ids included); ``stable``: of the records present since the start."""
        with self.lock:
            keys = self.keys.tolist()
        ids = keys
        if self.repeat_ids is not None:
            every, back = self.repeat_ids
            ids = [keys[i - back] if (i + 1) % every == 0 else k for i, k in enumerate(keys)]
        if stable:
            ids = [i for i, k in zip(ids, keys, strict=True) if k % ID_STEP == 0]
        if self.res.id_prefix is None:
            return ids
        return [self.format_id(k) for k in ids]

    def records(self) -> list[dict[str, Any]]:
        body, _ = self.page(0, None)
        data: list[dict[str, Any]] = next(iter(json.loads(body).values()))
        return data

    # -- churn ------------------------------------------------------------------------------------------

    def churn(self, rng: random.Random, max_changes: int = 3) -> tuple[list[Any], list[Any]]:
        """Delete 1..max_changes random records and insert 1..max_changes new ones in id gaps."""
        deleted: list[int] = []
        inserted: list[int] = []
        with self.lock:
            keys = self.keys
            for _ in range(rng.randint(1, max_changes)):
                if len(keys) <= 1:
                    break
                i = rng.randrange(len(keys))
                deleted.append(keys.pop(i))
                if self.cached and self.blobs.pop(i) is None:
                    self._pending -= 1
            for _ in range(rng.randint(1, max_changes)):
                for _attempt in range(20):
                    i = rng.randint(0, len(keys))
                    lo = keys[i - 1] if i > 0 else 0
                    hi = keys[i] if i < len(keys) else (keys[-1] if keys else 0) + ID_STEP
                    candidates = [k for k in range(lo + 1, hi) if k % ID_STEP]
                    if candidates:
                        key = rng.choice(candidates)
                        keys.insert(i, key)
                        if self.cached:
                            self.blobs.insert(i, None)
                            self._pending += 1
                        inserted.append(key)
                        break
        return [self.format_id(k) for k in deleted], [self.format_id(k) for k in inserted]
