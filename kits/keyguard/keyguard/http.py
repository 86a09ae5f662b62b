"""The requests-level guards both variants use (the Singer taps through tapkit, and the dlt sources):
redirects only within the API's origin, and a deadline for the whole response.

* requests follows a redirect to any host and strips only ``Authorization`` on the way: a custom
  header such as ``X-API-KEY`` (and on an https -> http downgrade to the same host, any header)
  travels with it. ``refused_redirect`` says why a redirect out of the request's scheme, host and
  port must not be followed; within the origin it may be, key included (at most ``MAX_REDIRECTS``).
* requests' ``timeout`` bounds each socket read, not the response: a server trickling a byte a
  second holds a request for ever. ``DeadlineAdapter`` (an ``HTTPAdapter``) bounds the status line and
  headers by the deadline its caller sets around ``send`` (``with sending_by(deadline) as cut:``), and
  ``read_by`` reads a streamed response's body by the same deadline; past it either shuts the
  connection, so the caller fails the attempt as a read timeout.

``OriginAdapter`` puts all of it on the session as the taps' kit uses it: every send bounded by one
deadline (redirect hops included), redirects followed by the adapter itself within the origin only,
and the proxies and CA bundle of the environment (``HTTPS_PROXY``, ``REQUESTS_CA_BUNDLE``...) merged
into each send, as requests' ``Session.request`` would (a prepared request sent with ``Session.send``
skips that merge). The dlt sources mount their own ``GuardedAdapter`` on these same pieces, since
requests follows their redirects; each variant raises its own exceptions with the findings.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

from requests import PreparedRequest, Response, Session
from requests.adapters import HTTPAdapter
from requests.exceptions import ReadTimeout, RequestException
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# Redirects followed within the API's origin before giving up (requests' own default is 30).
MAX_REDIRECTS = 10


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: what a redirect must keep for the key to travel with it."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def redirect_target(url: str, response: Response) -> str:
    """The absolute URL a redirect ``response`` to a request for ``url`` points at."""
    return urljoin(url, response.headers["Location"])


def refused_redirect(url: str, response: Response, show: Callable[[str], str] = str) -> str | None:
    """Why the redirect ``response`` to a request for ``url`` must not be followed: its target is
    outside the origin of ``url`` (printed through ``show``, which masks what a line must not hold).
    None when the target stays within the origin."""
    target = redirect_target(url, response)
    if origin(target) == origin(url):
        return None
    scheme, host, port = origin(url)
    return (
        f"HTTP {response.status_code} redirects to {show(target)}, outside the API's origin "
        f"({scheme}://{host}:{port}): refused, so the key does not leave it (if the API has moved, "
        "set base_url)"
    )


class _Watchdog:
    """One thread that runs every deadline's action of the process when it falls due, instead of a
    ``threading.Timer`` (a thread started and ended) per deadline: ~75 µs of CPU each against ~2.5 µs
    for a watch here, two per request. ``watch`` returns an entry; ``cancel`` it when the block ends
    (a cancelled entry stays in the heap, inert, until the heap is mostly such entries)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[list[Any]] = []  # [deadline, sequence, action or None once cancelled or run]
        self._sequence = itertools.count()
        self._cancelled = 0
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float, action: Callable[[], None]) -> list[Any]:
        entry = [deadline, next(self._sequence), action]
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked child
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0] is entry:
                self._cond.notify()
        return entry

    def cancel(self, entry: list[Any]) -> None:
        with self._cond:
            if entry[2] is None:
                return
            entry[2] = None
            self._cancelled += 1
            if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
                self._heap = [e for e in self._heap if e[2] is not None]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _run(self) -> None:
        with self._cond:
            while True:
                heap = self._heap
                while heap and heap[0][2] is None:
                    heapq.heappop(heap)
                    self._cancelled -= 1
                if not heap:
                    self._cond.wait()
                    continue
                delay = heap[0][0] - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                entry = heapq.heappop(heap)
                action, entry[2] = entry[2], None
                self._cond.release()
                try:
                    with contextlib.suppress(Exception):  # one action failing must not end the others
                        action()
                finally:
                    self._cond.acquire()


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def _shut_at(
    deadline: float, sock: Callable[[], socket.socket | None], expired: threading.Event
) -> Iterator[None]:
    """While the block runs: at ``deadline`` (a ``time.monotonic()`` value) set ``expired`` and shut
    the socket ``sock()`` gives, so a read blocked on it fails at once."""

    def shut() -> None:
        expired.set()
        found = sock()
        if found is not None:
            with contextlib.suppress(OSError):
                found.shutdown(socket.SHUT_RDWR)

    entry = _WATCHDOG.watch(deadline, shut)
    try:
        yield
    finally:
        _WATCHDOG.cancel(entry)


def _read_body(response: Response) -> None:
    """``response.content``, read in one piece: requests reads a streamed body in 10 kB chunks, each a
    trip through urllib3 and the GIL; ``iter_content(None)`` reads what the headers announce at once,
    with requests' own exceptions for a body cut short or undecodable. (``_content`` is where requests
    keeps a body it has read.)"""
    if response._content is False and not response._content_consumed and hasattr(response.raw, "stream"):
        response._content = b"".join(response.iter_content(None)) or b""
        response._content_consumed = True
    else:
        response.content  # noqa: B018 (reads the body)


def read_by(response: Response, deadline: float) -> bool:
    """Read the body of ``response`` (sent with ``stream=True``) by ``deadline``, a
    ``time.monotonic()`` value. True when it arrived whole; False when the deadline cut it: the
    connection is shut and the response closed, and the caller raises its read timeout. Any other
    failure to read propagates."""
    expired = threading.Event()
    try:
        with _shut_at(
            deadline, lambda: getattr(getattr(response.raw, "connection", None), "sock", None), expired
        ):
            _read_body(response)
    except Exception:
        if not expired.is_set():
            raise
        response.close()
        return False
    return True


class Cut:
    """What ``sending_by`` yields: ``expired`` is set once the deadline has shut the connection."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = threading.Event()


_sending = threading.local()


@contextlib.contextmanager
def sending_by(deadline: float) -> Iterator[Cut]:
    """While the block runs, a ``DeadlineAdapter`` send in this thread must have its status line and
    headers by ``deadline`` (a ``time.monotonic()`` value); past it the connection is shut and the
    send fails (a connection error), with ``expired`` set on what the block receives."""
    cut = Cut(deadline)
    previous = getattr(_sending, "cut", None)
    _sending.cut = cut
    try:
        yield cut
    finally:
        _sending.cut = previous


class _HeadBy:
    """A urllib3 connection that reads the status line and headers by the deadline of the current
    ``sending_by`` block (the body is ``read_by``'s)."""

    sock: socket.socket | None

    def getresponse(self) -> Any:
        cut: Cut | None = getattr(_sending, "cut", None)
        sock = self.sock
        if cut is None or sock is None:
            return super().getresponse()  # type: ignore[misc]
        with _shut_at(cut.deadline, lambda: sock, cut.expired):
            return super().getresponse()  # type: ignore[misc]


class _HTTPConnection(_HeadBy, HTTPConnection):
    pass


class _HTTPSConnection(_HeadBy, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' ``HTTPAdapter`` whose connections read the status line and headers by the deadline
    of the current ``sending_by`` block (a server trickling its headers is cut there, as ``read_by``
    cuts one trickling its body). Outside such a block it is the stock adapter. Pools made through
    a SOCKS proxy keep urllib3's own classes (and only the per-read timeout)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _POOLS
        return manager


class RedirectRefused(Exception):
    """A redirect ``OriginAdapter`` does not follow: out of the request's origin, or one hop too many."""


# A session with no settings of its own: what it merges is the environment's alone.
_PLAIN_SESSION = Session()


class OriginAdapter(DeadlineAdapter):
    """The transport rules of a session, on every send through it:

    * the whole response, every redirect hop, status line, headers and body, by one deadline ``timeout``
      seconds after the send starts (requests' ``timeout`` bounds each socket read only); past it the
      connection is shut and the send fails with ``ReadTimeout``, as a read timeout does;
    * redirects followed here, and only within the origin of the request, key included (at most
      ``MAX_REDIRECTS``); send with ``allow_redirects=False`` so requests follows none itself. One out of
      the origin raises ``RedirectRefused``, its target printed through ``show``;
    * the environment's proxies and CA bundle merged into the send, once per origin.
    """

    def __init__(self, *, show: Callable[[str], str] = str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.show = show
        self._environment: dict[tuple[str, str, int | None], dict[str, Any]] = {}

    def send(  # type: ignore[override]
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float = 60.0,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> Response:
        limit = float(timeout)
        deadline = time.monotonic() + limit
        response = self._whole_by(request, deadline, limit, verify, cert, proxies)
        hops = 0
        while response.is_redirect:
            # every hop followed stayed within the origin of the first, so the current one's is it too
            url = request.url or ""
            refused = refused_redirect(url, response, show=self.show)
            if refused:
                raise RedirectRefused(refused)
            hops += 1
            if hops > MAX_REDIRECTS:
                raise RedirectRefused(f"more than {MAX_REDIRECTS} redirects")
            request = request.copy()
            request.url = redirect_target(url, response)
            response = self._whole_by(request, deadline, limit, verify, cert, proxies)
        return response

    def _whole_by(
        self,
        request: PreparedRequest,
        deadline: float,
        limit: float,
        verify: bool | str,
        cert: Any,
        proxies: Any,
    ) -> Response:
        too_slow = f"the response took longer than request_timeout ({limit:g} s) from connect to last byte"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReadTimeout(too_slow)
        environment = self.environment(request.url or "")
        with sending_by(deadline) as cut:  # the status line and headers by the deadline too
            try:
                response = super().send(
                    request,
                    stream=True,
                    timeout=remaining,
                    verify=environment["verify"] if verify is True else verify,
                    cert=cert if cert is not None else environment["cert"],
                    proxies={**environment["proxies"], **(proxies or {})},
                )
            except (RequestException, OSError):
                if cut.expired.is_set():
                    raise ReadTimeout(too_slow) from None
                raise
        if not read_by(response, deadline):
            raise ReadTimeout(too_slow)
        return response

    def environment(self, url: str) -> dict[str, Any]:
        """The proxies, CA bundle and client certificate the environment gives requests to ``url``."""
        key = origin(url)
        if key not in self._environment:
            settings = _PLAIN_SESSION.merge_environment_settings(url, {}, None, None, None)
            self._environment[key] = dict(settings)
        return self._environment[key]
