"""The data model of one fake API: resources and their stores, ground truth, faults, stats, the request log.

Nothing here knows HTTP. The HTTP layer (``handler.py``) talks to a :class:`SandboxModel` only through its
public methods: :meth:`~SandboxModel.route`, :meth:`~SandboxModel.page`, :meth:`~SandboxModel.auth_ok`,
:meth:`~SandboxModel.presented_key`, :meth:`~SandboxModel.next_request_number`,
:meth:`~SandboxModel.match_fault`, :meth:`~SandboxModel.record_request` and the inspection methods that
the control endpoints serve.
"""

from __future__ import annotations

import json
import random
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

from .apis import (
    APIS,
    DEFAULT_API_KEY,
    DEFAULT_MAX_PAGE_SIZE,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RECORDS,
    ResourceSpec,
    small_count,
)
from .drift import Drift, as_drift
from .faults import Fault, FaultSet
from .openapi import build_openapi
from .store import ResourceStore

LOG_LIMIT = 500_000  # the request log keeps the most recent entries only

# Paging modes of :meth:`SandboxModel.page`: the API's own offsets, offsets that count pages, and a listing
# that ignores the offset and serves the next window of a cycling list on every request.
PAGING_MODES = ("offset", "page_offsets", "cycle")


class ModelOptions(TypedDict, total=False):
    """The keyword options of :class:`SandboxModel` (and of ``Sandbox``, ``run_sandbox``)."""

    records: int
    seed: int
    api_key: str
    latency_ms: float
    max_page_size: int | dict[str, int] | None
    faults: Iterable[Fault | str]
    churn: float
    repeat_ids: tuple[int, int] | None
    drift: Iterable[Drift | str]


class Headers(Protocol):
    """Request headers, looked up case-insensitively (``email.message.Message``, ``requests``' dict)."""

    def get(self, name: str, /) -> str | None: ...


class BadRequest(ValueError):
    """A request the API refuses with 400 (bad paging parameters)."""


@dataclass(frozen=True)
class Route:
    """One served resource: its spec (path, selector, paging) and its record store."""

    spec: ResourceSpec
    store: ResourceStore


@dataclass
class Page:
    """The records of one response as pre-serialized JSON objects, joined only when sent."""

    prefix: bytes  # b'{"<selector>":['
    records: list[bytes]
    suffix: bytes = b"]}"

    def body(self) -> bytes:
        return b"".join((self.prefix, b",".join(self.records), self.suffix))


class SandboxModel:
    """The state of one fake API. :class:`~api_sandbox.server.Sandbox` adds the HTTP server around it."""

    def __init__(
        self,
        api: str,
        *,
        records: int = DEFAULT_RECORDS,
        seed: int = 0,
        api_key: str = DEFAULT_API_KEY,
        latency_ms: float = 0,
        max_page_size: int | dict[str, int] | None = None,
        faults: Iterable[Fault | str] = (),
        churn: float = 0.0,
        repeat_ids: tuple[int, int] | None = None,
        drift: Iterable[Drift | str] = (),
    ) -> None:
        if api not in APIS:
            raise ValueError(f"unknown api {api!r}; expected one of {', '.join(APIS)}")
        if records < 0:
            raise ValueError("records must be >= 0")
        if repeat_ids is not None:
            every, back = (int(n) for n in repeat_ids)
            if not 1 <= back < every:
                raise ValueError(f"repeat_ids=(every, back) needs 1 <= back < every, got {repeat_ids!r}")
            repeat_ids = (every, back)
        self.repeat_ids = repeat_ids
        self.drift = tuple(as_drift(d) for d in drift)
        names = {r.name for r in APIS[api].resources}
        strangers = sorted({d.resource for d in self.drift} - names - {"*"})
        if strangers:
            raise ValueError(f"drift names unknown resources of {api}: {', '.join(strangers)}")
        self.api = api
        self.api_def = APIS[api]
        self.records_per_resource = records
        self.seed = seed
        self.api_key = api_key
        self.latency_s = latency_ms / 1000.0
        self.churn_rate = float(churn)
        self.resources: list[ResourceSpec] = []
        self._stores: dict[str, ResourceStore] = {}
        self._routes: dict[str, Route] = {}
        for res in self.api_def.resources:
            if res.paging is not None:
                offset_param, size_param, page_size = res.paging
                if isinstance(max_page_size, dict):
                    maxp: int | None = max_page_size.get(res.name, DEFAULT_MAX_PAGE_SIZE)
                else:
                    maxp = max_page_size or DEFAULT_MAX_PAGE_SIZE
                spec = ResourceSpec(
                    res.name,
                    self.api_def.base_path + res.path,
                    res.selector,
                    True,
                    offset_param,
                    size_param,
                    page_size,
                    maxp,
                )
                count = records
                repeat = repeat_ids
            else:
                spec = ResourceSpec(
                    res.name, self.api_def.base_path + res.path, res.selector, False, None, None, None, None
                )
                count = small_count(api, res.name)
                repeat = None
            store = ResourceStore(self.api_def, res, seed, count, res.selector, repeat, self.drift)
            self.resources.append(spec)
            self._stores[res.name] = store
            self._routes[spec.path] = Route(spec, store)
        if isinstance(max_page_size, dict):
            unknown = set(max_page_size) - set(self._stores)
            if unknown:
                raise ValueError(f"max_page_size names unknown resources: {', '.join(sorted(unknown))}")
        self.faults = FaultSet(faults)
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._statuses: dict[str, dict[str, int]] = {}
        self._log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self._churn_rng = random.Random(f"churn/{seed}")
        self._churn_lock = threading.Lock()
        self._cycle_positions: dict[str, int] = {}  # paging "cycle": where the next window starts
        self._openapi_bytes: bytes | None = None
        self.root_url = ""
        self.base_url = ""

    # -- inspection ---------------------------------------------------------------------------------------

    def resource(self, name: str) -> ResourceSpec:
        for spec in self.resources:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.api} has no resource {name!r}")

    def _store(self, name: str) -> ResourceStore:
        try:
            return self._stores[name]
        except KeyError:
            raise KeyError(f"{self.api} has no resource {name!r}") from None

    def truth(self, name: str | None = None) -> Any:
        """Ids of ``name`` in served order, or a dict name -> ids of every resource."""
        if name is not None:
            return self._store(name).ids()
        return {n: s.ids() for n, s in self._stores.items()}

    def stable_ids(self, name: str | None = None) -> Any:
        """Ids present since the start and never deleted by churn (== truth without churn)."""
        if name is not None:
            return self._store(name).ids(stable=True)
        return {n: s.ids(stable=True) for n, s in self._stores.items()}

    def records(self, name: str) -> list[dict[str, Any]]:
        return self._store(name).records()

    def stats(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                p: {"requests": n, "statuses": dict(self._statuses.get(p, {}))}
                for p, n in self._counts.items()
            }

    def request_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e, query=dict(e["query"])) for e in self._log]

    def add_fault(self, fault: Fault | str) -> None:
        """Add a :class:`Fault` (or a spec string such as ``"503,path=/v1/tasks,count=3"``)."""
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset(self) -> None:
        """Clear stats, request log (and request numbering), faults and cycle positions.

        Data and churn state stay."""
        with self._lock:
            self._counts.clear()
            self._statuses.clear()
            self._log.clear()
            self._cycle_positions.clear()
        self.faults.clear()

    def churn_step(self, name: str) -> tuple[list[Any], list[Any]]:
        """Apply one churn event to ``name`` now; returns (deleted ids, inserted ids)."""
        with self._churn_lock:
            return self._store(name).churn(self._churn_rng)

    def openapi(self) -> dict[str, Any]:
        return build_openapi(self.api_def, self.resources, self.base_url or "http://127.0.0.1")

    def openapi_bytes(self) -> bytes:
        if self._openapi_bytes is None:
            self._openapi_bytes = json.dumps(self.openapi(), ensure_ascii=False, indent=1).encode()
        return self._openapi_bytes

    def is_openapi_path(self, path: str) -> bool:
        return path in ("/openapi.json", self.api_def.base_path + "/openapi.json")

    # -- serving (the interface of the HTTP layer) ----------------------------------------------------------

    def route(self, path: str) -> Route | None:
        """The resource served at ``path`` (e.g. "/v1/tasks", "/v2/clients"), or None."""
        return self._routes.get(path)

    def auth_ok(self, headers: Headers) -> bool:
        """Whether ``headers`` carry the accepted key in the API's auth style."""
        return self.presented_key(headers) == self.api_key

    def presented_key(self, headers: Headers) -> str | None:
        """The key the headers carry in this API's auth style (the token of a Bearer header), or None."""
        auth = self.api_def.auth
        if auth == "raw":
            return headers.get("Authorization")
        if auth == "bearer":
            scheme, _, token = (headers.get("Authorization") or "").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
        return headers.get("X-API-KEY")

    def next_request_number(self, path: str) -> int:
        """Count a request to ``path``; returns its 1-based number since start or reset."""
        with self._lock:
            n = self._counts.get(path, 0) + 1
            self._counts[path] = n
            return n

    def match_fault(self, path: str, request_number: int) -> Fault | None:
        """The fault that fires for this request, if any (consumes one of its ``count``)."""
        return self.faults.match(path, request_number) if self.faults else None

    def record_request(self, entry: dict[str, Any]) -> None:
        """Append one request to the log (``path`` and ``status`` keys required) and count its status."""
        with self._lock:
            st = self._statuses.setdefault(entry["path"], {})
            key = str(entry["status"])
            st[key] = st.get(key, 0) + 1
            self._log.append(entry)

    def page(self, route: Route, query: Mapping[str, str], paging: str = "offset") -> Page:
        """The records the request ``query`` asks of ``route``; raises :class:`BadRequest`.

        ``paging`` (one of :data:`PAGING_MODES`, for paginated resources): ``"offset"`` the API's own
        offsets; ``"page_offsets"`` the offset parameter counts pages (records N*size .. N*size+size-1);
        ``"cycle"`` the offset is ignored and each request gets the next ``size`` records of the listing
        taken as a cycle (full pages for ever).
        """
        spec, store = route.spec, route.store
        if not spec.paginated:
            return Page(store.prefix, store.records_at(0, None))
        assert spec.offset_param is not None and spec.size_param is not None and spec.max_page_size
        offset = 0
        size = DEFAULT_PAGE_SIZE
        raw = query.get(spec.offset_param)
        if raw is not None:
            if not (raw.isascii() and raw.isdigit()):
                raise BadRequest(f"{spec.offset_param} must be a non-negative integer, got {raw!r}")
            offset = int(raw)
        raw = query.get(spec.size_param)
        if raw is not None:
            if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
                raise BadRequest(f"{spec.size_param} must be a positive integer, got {raw!r}")
            size = min(int(raw), spec.max_page_size)
        if paging == "cycle":
            with self._lock:
                start = self._cycle_positions.get(spec.path, 0)
                self._cycle_positions[spec.path] = start + size
            records = store.window(start, size)
        else:
            records = store.records_at(offset * size if paging == "page_offsets" else offset, size)
        if self.churn_rate > 0:
            with self._churn_lock:
                if self._churn_rng.random() < self.churn_rate:
                    store.churn(self._churn_rng)
        return Page(store.prefix, records)
