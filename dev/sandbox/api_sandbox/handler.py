"""The HTTP layer: a stdlib ThreadingHTTPServer with keep-alive and TCP_NODELAY in front of a SandboxModel.

Routing is by table: control endpoints by (method, name), API paths by the model's :meth:`route`, faults
by kind (answers that replace the response, transforms of a served body, ways of delivering it).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any
from urllib.parse import parse_qsl, quote

from .bodies import (
    BOM,
    HTML_ERROR,
    bad_byte,
    echo_body,
    encode_charset,
    error_body,
    fill_location,
    pad_record,
    splice,
)
from .faults import MOVED_PREFIX, Fault
from .model import BadRequest, Headers, Page, Route, SandboxModel

CREDENTIAL_HEADERS = ("Authorization", "X-API-KEY")  # the request log names those present, never values
PAGING_FAULTS = ("cycle", "page_offsets")  # faults that change what the offset parameter means


@dataclass
class Response:
    status: int
    body: bytes
    ctype: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ApiRequest:
    """What the fault responders may look at."""

    method: str
    path: str  # as received (with /_moved when it came that way)
    raw_query: str
    query: dict[str, str]
    headers: Headers
    auth_ok: bool
    model: SandboxModel
    route: Route
    scheme: str  # http or https
    port: int  # the server's port

    def host(self) -> str:
        """The host of the Host header (without the port), else 127.0.0.1."""
        host = self.headers.get("Host") or "127.0.0.1"
        if host.startswith("["):
            return host[: host.index("]") + 1] if "]" in host else host
        return host.rpartition(":")[0] if ":" in host else host


# -- faults: answers (the whole response, sent before the auth check) --------------------------------------


def _answer_status(fault: Fault, req: ApiRequest) -> Response:
    assert fault.status is not None
    if fault.delay_s:
        time.sleep(fault.delay_s)  # an error that takes its time: other requests are in flight meanwhile
    resp = Response(fault.status, error_body(fault.status, "injected fault"))
    if fault.retry_after is not None:
        resp.headers["Retry-After"] = fault.retry_after
    elif fault.retry_after_date is not None:
        when = math.ceil(time.time() + fault.retry_after_date)
        resp.headers["Retry-After"] = formatdate(when, usegmt=True)
    return resp


def _answer_html(fault: Fault, req: ApiRequest) -> Response:
    return Response(200, HTML_ERROR, "text/html; charset=utf-8")


def _answer_no_selector(fault: Fault, req: ApiRequest) -> Response | None:
    if fault.variant != "error":
        return None  # the "items" variant transforms the served page
    return Response(200, json.dumps({"error": "temporarily unavailable, try again"}).encode())


def _answer_redirect(fault: Fault, req: ApiRequest) -> Response:
    assert fault.status is not None and fault.location is not None
    values = {
        "scheme": req.scheme,
        "host": req.host(),
        "port": str(req.port),
        "path": req.path,
        "query": req.raw_query,
        "key_quoted": quote(req.model.presented_key(req.headers) or "", safe=""),
    }
    location = fill_location(fault.location, values)
    body = json.dumps({"error": "moved", "message": f"see {location}"}).encode()
    return Response(fault.status, body, headers={"Location": location})


def _answer_echo(fault: Fault, req: ApiRequest) -> Response:
    return Response(401, echo_body(req.model.presented_key(req.headers), fault.pad))


ANSWERS: dict[str, Callable[[Fault, ApiRequest], Response | None]] = {
    "status": _answer_status,
    "html": _answer_html,
    "no_selector": _answer_no_selector,
    "redirect": _answer_redirect,
    "echo": _answer_echo,
}


# -- faults: transforms of the normal response (401, 400 or the page) ---------------------------------------


def _not_json(fault: Fault, resp: Response, page: Page | None) -> Response:
    # a strict prefix of a JSON document is never valid JSON
    return Response(200, resp.body[: max(1, len(resp.body) // 2)])


def _no_selector_items(fault: Fault, resp: Response, page: Page | None) -> Response:
    rest = page.body()[len(page.prefix) - 1 :] if resp.status == 200 and page is not None else b"[]}"
    return Response(200, b'{"items":' + rest)


def _page_only(
    change: Callable[[Fault, Response, Page], Response],
) -> Callable[[Fault, Response, Page | None], Response]:
    """A transform of served pages only: a 401 or 400 goes out as it is."""

    def transform(fault: Fault, resp: Response, page: Page | None) -> Response:
        return change(fault, resp, page) if page is not None and resp.status == 200 else resp

    return transform


def _change_records(
    fault: Fault, page: Page, indexes: range | list[int], change: Callable[[bytes], bytes]
) -> Response:
    for i in indexes:
        if i < len(page.records):
            page.records[i] = change(page.records[i])
    return Response(200, page.body())


def _bom(fault: Fault, resp: Response, page: Page) -> Response:
    return Response(200, BOM + resp.body)


def _charset(fault: Fault, resp: Response, page: Page) -> Response:
    assert fault.charset is not None
    body = encode_charset(resp.body, fault.charset)
    return Response(200, body, f"application/json; charset={fault.charset}")


def _bad_byte(fault: Fault, resp: Response, page: Page) -> Response:
    return _change_records(fault, page, [fault.index or 0], lambda r: bad_byte(r, fault.name))


def _field(fault: Fault, resp: Response, page: Page) -> Response:
    assert fault.name is not None and fault.value is not None
    name, value = fault.name, fault.value.encode()
    indexes = range(len(page.records)) if fault.index is None else [fault.index]
    return _change_records(fault, page, indexes, lambda r: splice(r, name, value))


def _huge(fault: Fault, resp: Response, page: Page) -> Response:
    assert fault.record_bytes is not None
    size = fault.record_bytes
    return _change_records(fault, page, [fault.index or 0], lambda r: pad_record(r, size, fault.name))


TRANSFORMS: dict[str, Callable[[Fault, Response, Page | None], Response]] = {
    "not_json": _not_json,
    "no_selector": _no_selector_items,
    "bom": _page_only(_bom),
    "charset": _page_only(_charset),
    "bad_byte": _page_only(_bad_byte),
    "field": _page_only(_field),
    "huge": _page_only(_huge),
}


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(
        self, address: tuple[str, int], model: SandboxModel, tls: ssl.SSLContext | None = None
    ) -> None:
        self.model = model
        self.tls = tls
        self.scheme = "https" if tls is not None else "http"
        self.stopping = threading.Event()  # set by Sandbox.stop(): trickling responses end
        super().__init__(address, SandboxHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # the TLS handshake runs in the connection's own thread, bounded, never in the accept loop
        request.settimeout(10)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            conn.settimeout(None)
            super().finish_request(conn, client_address)
        finally:
            conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # clients that hang up (timeouts, dropped connections) are normal here; anything else is a bug
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a DNS lookup that can take seconds; skip it.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


# -- control endpoints: (method, name) -> fn(model, query, request body) -> (status, JSON result) ---


def _truth(model: SandboxModel, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
    stable = query.get("stable", "") not in ("", "0", "false")
    res_name = query.get("resource")
    fn = model.stable_ids if stable else model.truth
    return 200, fn(res_name) if res_name else fn()


def _add_faults(model: SandboxModel, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
    data = json.loads(raw or b"{}")
    for item in data if isinstance(data, list) else [data]:
        model.add_fault(Fault.from_dict(item))
    return 201, {"ok": True, "faults": len(model.faults.list())}


def _ok(action: Callable[[SandboxModel], object]) -> Callable[[SandboxModel, dict[str, str], bytes], Any]:
    def run(model: SandboxModel, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
        action(model)
        return 200, {"ok": True}

    return run


def _churn(model: SandboxModel, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
    deleted, inserted = model.churn_step(query["resource"])
    return 200, {"deleted": deleted, "inserted": inserted}


CONTROL_ROUTES: dict[tuple[str, str], Callable[[SandboxModel, dict[str, str], bytes], tuple[int, Any]]] = {
    ("GET", "stats"): lambda m, q, b: (200, m.stats()),
    ("GET", "requests"): lambda m, q, b: (200, m.request_log()),
    ("GET", "truth"): _truth,
    ("GET", "resources"): lambda m, q, b: (200, [vars(s) for s in m.resources]),
    ("GET", "faults"): lambda m, q, b: (200, [f.to_dict() for f in m.faults.list()]),
    ("POST", "faults"): _add_faults,
    ("DELETE", "faults"): _ok(SandboxModel.clear_faults),
    ("POST", "reset"): _ok(SandboxModel.reset),
    ("POST", "churn"): _churn,
}
CONTROL_NAMES = {name for _, name in CONTROL_ROUTES}


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "api-sandbox/0.1"
    sys_version = ""
    server: SandboxServer

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, Nagle + delayed ACK add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- low-level send --------------------------------------------------------------------------------

    def _head(self, resp: Response) -> bytes:
        try:
            phrase = HTTPStatus(resp.status).phrase
        except ValueError:
            phrase = ""
        lines = [
            f"HTTP/1.1 {resp.status} {phrase}",
            f"Server: {self.server_version}",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Type: {resp.ctype}",
            f"Content-Length: {len(resp.body)}",
        ]
        lines.extend(f"{k}: {v}" for k, v in resp.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(self, resp: Response) -> None:
        head = self._head(resp)
        if len(resp.body) < 16384:
            self.wfile.write(head + resp.body)
        else:
            self.wfile.write(head)
            self.wfile.write(resp.body)

    def _send_json(self, status: int, result: Any) -> None:
        self._send(Response(status, json.dumps(result, ensure_ascii=False).encode()))

    def _drain(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- deliveries ----------------------------------------------------------------------------------------

    def _deliver_drop(self, resp: Response, fault: Fault) -> None:
        """Status line and headers with the full Content-Length, half the body, then close."""
        self.wfile.write(self._head(resp) + resp.body[: max(1, len(resp.body) // 2)])
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _deliver_trickle(self, resp: Response, fault: Fault) -> None:
        """Status line and headers with the full Content-Length, then one byte of the body every
        ``delay_s`` seconds (variant ``head``: the status line and headers a byte at a time, then the
        body); stops as soon as the client hangs up or the sandbox stops."""
        assert fault.delay_s is not None
        head, body = self._head(resp), resp.body
        slow, rest = (head, body) if fault.variant == "head" else (body, b"")
        try:
            if fault.variant != "head":
                self.wfile.write(head)
            for i in range(len(slow)):
                if self._client_gone_within(fault.delay_s):
                    self.close_connection = True
                    return
                self.wfile.write(slow[i : i + 1])
            self.wfile.write(rest)
        except OSError:
            self.close_connection = True

    def _client_gone_within(self, seconds: float) -> bool:
        """Wait ``seconds``; True as soon as the client has closed its side (or the sandbox stops)."""
        stopping = self.server.stopping
        deadline = time.monotonic() + seconds
        while not stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.25))
            if readable:
                if self._peer_closed():
                    return True
                stopping.wait(left)  # bytes waiting (a pipelined request): just wait
        return True

    def _peer_closed(self) -> bool:
        # peek at the TCP stream through a duplicate descriptor (a TLS socket takes no recv flags)
        with socket.socket(fileno=os.dup(self.connection.fileno())) as raw:
            try:
                return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                return False
            except OSError:
                return True

    DELIVERIES: dict[str, Callable[[SandboxHandler, Response, Fault], None]] = {
        "drop": _deliver_drop,
        "trickle": _deliver_trickle,
    }

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
        model = self.server.model
        path, _, qs = self.path.partition("?")
        query = dict(parse_qsl(qs, keep_blank_values=True)) if qs else {}
        raw = self._drain()
        if path == "/_sandbox" or path.startswith("/_sandbox/"):
            self._control(model, method, path, query, raw)
        elif model.is_openapi_path(path):
            if method == "GET":
                self._send(Response(200, model.openapi_bytes()))
            else:
                self._send(Response(405, error_body(405, "only GET is allowed"), headers={"Allow": "GET"}))
        else:
            self._api(model, method, path, qs, query)

    def _api(self, model: SandboxModel, method: str, path: str, qs: str, query: dict[str, str]) -> None:
        arrived = time.time()
        moved = path.startswith(MOVED_PREFIX + "/")
        auth_ok = model.auth_ok(self.headers)
        route = model.route(path[len(MOVED_PREFIX) :] if moved else path)
        n = model.next_request_number(path)
        if model.latency_s:
            time.sleep(model.latency_s)
        fault: Fault | None = None
        if route is None:
            resp = Response(404, error_body(404, f"no such path: {path}"))
        elif method != "GET":
            resp = Response(405, error_body(405, "only GET is allowed"), headers={"Allow": "GET"})
        else:
            fault = model.match_fault(path, n)
            req = ApiRequest(
                method,
                path,
                qs,
                query,
                self.headers,
                auth_ok,
                model,
                route,
                self.server.scheme,
                self.server.server_port,
            )
            resp = self._respond(req, fault)
        model.record_request(
            {
                "method": method,
                "path": path,
                "query": query,
                "status": resp.status,
                "auth_ok": auth_ok,
                "fault": None if fault is None else fault.kind,
                "host": self.headers.get("Host"),
                "credentials": [h for h in CREDENTIAL_HEADERS if self.headers.get(h) is not None],
                "moved": moved,
                "time": arrived,
            }
        )
        deliver = self.DELIVERIES.get(fault.kind) if fault is not None else None
        if deliver is None:
            self._send(resp)
        else:
            deliver(self, resp, fault)  # type: ignore[arg-type]

    def _respond(self, req: ApiRequest, fault: Fault | None) -> Response:
        """The answer of a fault, or the normal response (after a fault's delay) and its transform."""
        answer = ANSWERS.get(fault.kind) if fault is not None else None
        if answer is not None:
            assert fault is not None
            resp = answer(fault, req)
            if resp is not None:
                return resp
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay_s or 0.0)
        page: Page | None = None
        if not req.auth_ok:
            resp = Response(401, error_body(401, "missing or invalid API key"))
        else:
            try:
                paging = fault.kind if fault is not None and fault.kind in PAGING_FAULTS else "offset"
                page = req.model.page(req.route, req.query, paging)
            except BadRequest as exc:
                resp = Response(400, error_body(400, str(exc)))
            else:
                resp = Response(200, page.body())
        transform = TRANSFORMS.get(fault.kind) if fault is not None else None
        if transform is not None:
            assert fault is not None
            resp = transform(fault, resp, page)
        return resp

    # -- control endpoints -----------------------------------------------------------------------------------

    def _control(
        self, model: SandboxModel, method: str, path: str, query: dict[str, str], raw: bytes
    ) -> None:
        name = path[len("/_sandbox/") :].strip("/")
        action = CONTROL_ROUTES.get((method, name))
        if action is None:
            if name in CONTROL_NAMES:
                self._send(Response(405, error_body(405, f"{method} not allowed on {path}")))
            else:
                self._send(Response(404, error_body(404, f"no such control endpoint: {path}")))
            return
        try:
            status, result = action(model, query, raw)
        except KeyError as exc:
            self._send(Response(404, error_body(404, str(exc))))
            return
        except (ValueError, TypeError) as exc:
            self._send(Response(400, error_body(400, str(exc))))
            return
        self._send_json(status, result)
