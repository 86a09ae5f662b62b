"""A small forwarding HTTP proxy for tests: absolute-form requests (``GET http://host:port/path``) and
``CONNECT host:port`` tunnels (https), to loopback targets only, with a log of what went through.

    with run_proxy() as proxy:
        requests.get(sandbox_url, proxies={"http": proxy.url, "https": proxy.url}, ...)
        proxy.log()  # [{"method": "GET", "target": "127.0.0.1:41234", "url": "http://..."}, ...]

One request per client connection for plain http (the proxy answers ``Connection: close``); a tunnel
lasts until either side closes it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import socketserver
import threading
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "proxy-connection", "proxy-authorization", "keep-alive", "te", "upgrade"}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: ForwardProxy


class _ProxyHandler(socketserver.StreamRequestHandler):
    server: _ProxyServer
    rbufsize = 0  # unbuffered: no byte the client sent is left in a buffer when the relay takes over

    def handle(self) -> None:
        proxy = self.server.proxy
        proxy.track(self.connection)
        try:
            request_line = self.rfile.readline(65537).decode("latin-1").rstrip("\r\n")
            headers = []
            while True:
                line = self.rfile.readline(65537)
                if line in (b"\r\n", b"\n", b""):
                    break
                headers.append(line.decode("latin-1").rstrip("\r\n"))
            method, target = [*request_line.split(" "), "", ""][:2]
            if method == "CONNECT":
                self._tunnel(proxy, target)
            elif target.startswith("http://"):
                self._forward(proxy, method, target, headers)
            else:
                self._reply(400, "expected an absolute http:// URL or CONNECT host:port")
        except OSError:
            pass
        finally:
            proxy.untrack(self.connection)

    def _reply(self, status: int, message: str) -> None:
        body = message.encode()
        head = f"HTTP/1.1 {status} Proxy Error\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        self.wfile.write(head.encode() + body)

    def _connect(self, proxy: ForwardProxy, method: str, host: str, port: int, url: str | None) -> Any:
        proxy.record({"method": method, "target": f"{host}:{port}", "url": url})
        if not _is_loopback(host):
            self._reply(403, f"this test proxy forwards to loopback hosts only, not {host}")
            return None
        try:
            upstream = socket.create_connection((host.strip("[]"), port), timeout=10)
        except OSError as exc:
            self._reply(502, f"cannot reach {host}:{port}: {exc}")
            return None
        upstream.settimeout(None)
        proxy.track(upstream)
        return upstream

    def _tunnel(self, proxy: ForwardProxy, target: str) -> None:
        host, _, port = target.rpartition(":")
        upstream = self._connect(proxy, "CONNECT", host, int(port or 443), None)
        if upstream is None:
            return
        self.wfile.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        self._relay(proxy, upstream)

    def _forward(self, proxy: ForwardProxy, method: str, url: str, headers: list[str]) -> None:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 80
        upstream = self._connect(proxy, method, host, port, url)
        if upstream is None:
            return
        kept = [h for h in headers if h.split(":", 1)[0].strip().lower() not in _HOP_BY_HOP]
        length = next((int(h.split(":", 1)[1]) for h in kept if h.lower().startswith("content-length:")), 0)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""])
        body = self.rfile.read(length) if length else b""
        upstream.sendall(head.encode("latin-1") + body)
        self._relay(proxy, upstream)

    def _relay(self, proxy: ForwardProxy, upstream: socket.socket) -> None:
        """Copy bytes both ways until either side closes."""
        client = self.connection

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join()
        proxy.untrack(upstream)
        upstream.close()


class ForwardProxy:
    """The proxy; :func:`run_proxy` gives a started one (a context manager that stops it)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _ProxyServer((host, port), _ProxyHandler, bind_and_activate=True)
        self._server.proxy = self
        bound_host, bound_port = str(self._server.server_address[0]), int(self._server.server_address[1])
        self.url = f"http://{bound_host}:{bound_port}"
        self._lock = threading.Lock()
        self._log: list[dict[str, Any]] = []
        self._open: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    def start(self) -> ForwardProxy:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            still_open = list(self._open)
        for sock in still_open:  # end tunnels that are still open
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def log(self) -> list[dict[str, Any]]:
        """Each request that reached the proxy: ``method`` (GET, CONNECT, ...), ``target`` host:port,
        ``url`` (the absolute URL of a plain http request; None for CONNECT)."""
        with self._lock:
            return [dict(e) for e in self._log]

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log.append(entry)

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run_proxy(host: str = "127.0.0.1", port: int = 0) -> ForwardProxy:
    """Start a forwarding proxy on ``host`` (a free port by default); use as a context manager."""
    return ForwardProxy(host, port).start()
