"""The HTTP server: a stdlib ThreadingHTTPServer with keep-alive, TCP_NODELAY and pre-serialized pages."""

from __future__ import annotations

import contextlib
import json
import math
import random
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from .apis import (
    APIS,
    DEFAULT_API_KEY,
    DEFAULT_MAX_PAGE_SIZE,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RECORDS,
    ResourceSpec,
    small_count,
)
from .faults import Fault, FaultSet
from .openapi import build_openapi
from .store import ResourceStore

LOG_LIMIT = 500_000  # the request log keeps the most recent entries only

_ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def error_body(status: int, message: str | None = None) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    name = _ERROR_NAMES.get(status, phrase.lower().replace(" ", "_"))
    return json.dumps({"error": name, "message": message or phrase}).encode()


_HTML_ERROR = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>Bad Gateway</h1><p>The upstream server returned an invalid response.</p>"
    b"<hr><address>nginx</address></body></html>\n"
)


class Sandbox:
    """A running (or startable) fake of one API. Use :func:`run_sandbox` to get a started one."""

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
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if api not in APIS:
            raise ValueError(f"unknown api {api!r}; expected one of {', '.join(APIS)}")
        if records < 0:
            raise ValueError("records must be >= 0")
        self.api = api
        self.api_def = APIS[api]
        self.records_per_resource = records
        self.seed = seed
        self.api_key = api_key
        self.latency_s = latency_ms / 1000.0
        self.churn_rate = float(churn)
        self.host = host
        self.port = port
        self.resources: list[ResourceSpec] = []
        self._stores: dict[str, ResourceStore] = {}
        self._routes: dict[str, tuple[ResourceSpec, ResourceStore]] = {}
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
            else:
                spec = ResourceSpec(
                    res.name, self.api_def.base_path + res.path, res.selector, False, None, None, None, None
                )
                count = small_count(api, res.name)
            store = ResourceStore(self.api_def, res, seed, count, res.selector)
            self.resources.append(spec)
            self._stores[res.name] = store
            self._routes[spec.path] = (spec, store)
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
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._openapi_bytes: bytes | None = None
        self.root_url = ""
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.sandbox = self
        self._server = server
        host, port = str(server.server_address[0]), int(server.server_address[1])
        self.port = port
        shown = f"[{host}]" if ":" in str(host) else str(host)
        self.root_url = f"http://{shown}:{self.port}"
        self.base_url = self.root_url + self.api_def.base_path
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"api-sandbox-{self.api}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    close = stop

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

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
        """Clear stats, request log (and request numbering) and faults. Data and churn state stay."""
        with self._lock:
            self._counts.clear()
            self._statuses.clear()
            self._log.clear()
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

    # -- request handling helpers --------------------------------------------------------------------------

    def auth_ok(self, headers: Any) -> bool:
        auth = self.api_def.auth
        if auth == "raw":
            return bool(headers.get("Authorization") == self.api_key)
        if auth == "bearer":
            value = headers.get("Authorization") or ""
            scheme, _, token = value.partition(" ")
            return scheme.lower() == "bearer" and token.strip() == self.api_key
        return bool(headers.get("X-API-KEY") == self.api_key)

    def _count(self, path: str) -> int:
        with self._lock:
            n = self._counts.get(path, 0) + 1
            self._counts[path] = n
            return n

    def _record(
        self, method: str, path: str, query: dict[str, str], status: int, auth_ok: bool, fault: Fault | None
    ) -> None:
        with self._lock:
            st = self._statuses.setdefault(path, {})
            key = str(status)
            st[key] = st.get(key, 0) + 1
            self._log.append(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "status": status,
                    "auth_ok": auth_ok,
                    "fault": None if fault is None else fault.kind,
                }
            )

    def _page(self, spec: ResourceSpec, store: ResourceStore, query: dict[str, str]) -> tuple[int, bytes]:
        if not spec.paginated:
            return 200, store.page(0, None)[0]
        assert spec.offset_param is not None and spec.size_param is not None and spec.max_page_size
        offset = 0
        size = DEFAULT_PAGE_SIZE
        raw = query.get(spec.offset_param)
        if raw is not None:
            if not (raw.isascii() and raw.isdigit()):
                return 400, error_body(
                    400, f"{spec.offset_param} must be a non-negative integer, got {raw!r}"
                )
            offset = int(raw)
        raw = query.get(spec.size_param)
        if raw is not None:
            if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
                return 400, error_body(400, f"{spec.size_param} must be a positive integer, got {raw!r}")
            size = min(int(raw), spec.max_page_size)
        body = store.page(offset, size)[0]
        if self.churn_rate > 0:
            with self._churn_lock:
                if self._churn_rng.random() < self.churn_rate:
                    store.churn(self._churn_rng)
        return 200, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512
    sandbox: Sandbox

    def handle_error(self, request: Any, client_address: Any) -> None:
        # clients that hang up (timeouts, dropped connections) are normal here; anything else is a bug
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a DNS lookup that can take seconds; skip it.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "api-sandbox/0.1"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, Nagle + delayed ACK add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- low-level send --------------------------------------------------------------------------------

    def _head(self, status: int, length: int, ctype: str, headers: dict[str, str] | None = None) -> bytes:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        lines = [
            f"HTTP/1.1 {status} {phrase}",
            f"Server: {self.server_version}",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Type: {ctype}",
            f"Content-Length: {length}",
        ]
        if headers:
            lines.extend(f"{k}: {v}" for k, v in headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        head = self._head(status, len(body), ctype, headers)
        if len(body) < 16384:
            self.wfile.write(head + body)
        else:
            self.wfile.write(head)
            self.wfile.write(body)

    def _drain(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- methods -----------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def _dispatch(self, method: str) -> None:
        sb = self.server.sandbox
        path, _, qs = self.path.partition("?")
        query = dict(parse_qsl(qs, keep_blank_values=True)) if qs else {}
        if path == "/_sandbox" or path.startswith("/_sandbox/"):
            self._control(sb, method, path, query)
            return
        if path == "/openapi.json" or path == sb.api_def.base_path + "/openapi.json":
            self._drain()
            if method == "GET":
                self._send(200, sb.openapi_bytes())
            else:
                self._send(405, error_body(405, "only GET is allowed"), headers={"Allow": "GET"})
            return
        self._drain()
        self._api(sb, method, path, query)

    def _api(self, sb: Sandbox, method: str, path: str, query: dict[str, str]) -> None:
        auth_ok = sb.auth_ok(self.headers)
        route = sb._routes.get(path)
        n = sb._count(path)
        if sb.latency_s:
            time.sleep(sb.latency_s)
        fault: Fault | None = None
        headers: dict[str, str] | None = None
        ctype = "application/json"
        if route is None:
            status, body = 404, error_body(404, f"no such path: {path}")
        elif method != "GET":
            status, body = 405, error_body(405, "only GET is allowed")
            headers = {"Allow": "GET"}
        else:
            spec, store = route
            fault = sb.faults.match(path, n) if sb.faults else None
            if fault is not None and fault.kind == "status":
                assert fault.status is not None
                status, body = fault.status, error_body(fault.status, "injected fault")
                if fault.retry_after is not None:
                    headers = {"Retry-After": fault.retry_after}
                elif fault.retry_after_date is not None:
                    when = math.ceil(time.time() + fault.retry_after_date)
                    headers = {"Retry-After": formatdate(when, usegmt=True)}
            elif fault is not None and fault.kind == "html":
                status, body, ctype = 200, _HTML_ERROR, "text/html; charset=utf-8"
            elif fault is not None and fault.kind == "no_selector" and fault.variant == "error":
                status, body = 200, json.dumps({"error": "temporarily unavailable, try again"}).encode()
            else:
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.delay_s)
                if not auth_ok:
                    status, body = 401, error_body(401, "missing or invalid API key")
                else:
                    status, body = sb._page(spec, store, query)
                if fault is not None and fault.kind == "drop":
                    sb._record(method, path, query, status, auth_ok, fault)
                    head = self._head(status, len(body), ctype)
                    self.wfile.write(head + body[: max(1, len(body) // 2)])
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None and fault.kind == "not_json":
                    # a strict prefix of a JSON document is never valid JSON
                    status, body = 200, body[: max(1, len(body) // 2)]
                elif fault is not None and fault.kind == "no_selector":
                    prefix = f'{{"{spec.selector}":'.encode()
                    rest = body[len(prefix) :] if status == 200 and body.startswith(prefix) else b"[]}"
                    status, body = 200, b'{"items":' + rest
        sb._record(method, path, query, status, auth_ok, fault)
        self._send(status, body, ctype, headers)

    # -- control endpoints -----------------------------------------------------------------------------------

    def _control(self, sb: Sandbox, method: str, path: str, query: dict[str, str]) -> None:
        raw = self._drain()
        name = path[len("/_sandbox/") :].strip("/")
        result: Any
        status = 200
        try:
            if method == "GET" and name == "stats":
                result = sb.stats()
            elif method == "GET" and name == "requests":
                result = sb.request_log()
            elif method == "GET" and name == "truth":
                stable = query.get("stable", "") not in ("", "0", "false")
                res_name = query.get("resource")
                fn = sb.stable_ids if stable else sb.truth
                result = fn(res_name) if res_name else fn()
            elif method == "GET" and name == "resources":
                result = [vars(s) for s in sb.resources]
            elif method == "GET" and name == "faults":
                result = [f.to_dict() for f in sb.faults.list()]
            elif method == "POST" and name == "faults":
                data = json.loads(raw or b"{}")
                faults = data if isinstance(data, list) else [data]
                for item in faults:
                    sb.add_fault(Fault.from_dict(item))
                result, status = {"ok": True, "faults": len(sb.faults.list())}, 201
            elif method == "DELETE" and name == "faults":
                sb.clear_faults()
                result = {"ok": True}
            elif method == "POST" and name == "reset":
                sb.reset()
                result = {"ok": True}
            elif method == "POST" and name == "churn":
                deleted, inserted = sb.churn_step(query["resource"])
                result = {"deleted": deleted, "inserted": inserted}
            elif name in ("stats", "requests", "truth", "resources", "faults", "reset", "churn"):
                self._send(405, error_body(405, f"{method} not allowed on {path}"))
                return
            else:
                self._send(404, error_body(404, f"no such control endpoint: {path}"))
                return
        except KeyError as exc:
            self._send(404, error_body(404, str(exc)))
            return
        except (ValueError, TypeError) as exc:
            self._send(400, error_body(400, str(exc)))
            return
        self._send(status, json.dumps(result, ensure_ascii=False).encode())


def run_sandbox(
    api: str,
    *,
    records: int = DEFAULT_RECORDS,
    seed: int = 0,
    api_key: str = DEFAULT_API_KEY,
    latency_ms: float = 0,
    max_page_size: int | dict[str, int] | None = None,
    faults: Iterable[Fault | str] = (),
    churn: float = 0.0,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Sandbox:
    """Start a sandbox serving ``api`` in a background thread; use as a context manager to stop it."""
    return Sandbox(
        api,
        records=records,
        seed=seed,
        api_key=api_key,
        latency_ms=latency_ms,
        max_page_size=max_page_size,
        faults=faults,
        churn=churn,
        host=host,
        port=port,
    ).start()
