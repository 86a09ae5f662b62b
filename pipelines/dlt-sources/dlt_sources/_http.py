"""The HTTP side every dlt source shares: the documents' retry policy, a total deadline per response,
and redirects only within the API's origin.

* dlt retries 429 and *every* 5xx, with its own attempt count and backoff read from ``[runtime]``
  when the session is built. ``retrying_session`` builds the session itself with exactly the
  documents' policy, so nothing read later can change it.
* requests' ``timeout`` bounds each socket read, not the response: a server trickling a byte a second
  holds a request for ever. ``GuardedAdapter`` shuts the connection when the whole response has not
  arrived within ``request_timeout`` (connect to last byte) and raises ``DeadlineExceeded``, a read
  timeout, which the retry policy retries.
* requests follows a redirect to any host and strips only ``Authorization`` on the way: a custom
  header such as ``X-API-KEY`` (and on an https -> http downgrade to the same host, any header)
  travels with it. ``GuardedAdapter`` refuses a redirect to another scheme, host or port with
  ``RedirectRefusedError``; within the origin requests follows it, key included.

Both live in the transport adapter, so they hold for every request and every redirect hop, whoever
sends it (dlt's client through the retrying session, or requests' redirect handling). The checks
themselves are ``keyguard.http``'s, the same the taps' kit makes; the adapter raises what they find
as this package's errors.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from dlt.sources.helpers.requests import Client, Session
from dlt.sources.helpers.rest_client.redaction import sanitize_url
from requests import PreparedRequest, Response
from requests.exceptions import RequestException

import keyguard
from dlt_sources._errors import DeadlineExceeded, RedirectRefusedError
from keyguard.http import MAX_REDIRECTS, DeadlineAdapter, read_by, refused_redirect, sending_by

log = logging.getLogger("dlt_sources")

# The documents' retry policy: "retry on 429, 500, 502, 503, 504; max retries 3; backoff factor 2".
RETRY_STATUSES: tuple[int, ...] = (429, 500, 502, 503, 504)
MAX_ATTEMPTS = 4  # dlt counts attempts: the first try plus 3 retries
BACKOFF_FACTOR = 2.0  # tenacity wait_exponential(multiplier=2): waits 2 s, 4 s, 8 s
MAX_RETRY_DELAY = 300.0  # dlt's default cap, applies to Retry-After as well
REQUEST_TIMEOUT = 60.0  # seconds for a whole response, connect to last byte (dlt's default value)


def safe_url(url: str) -> str:
    """A URL fit for a printed line: secret-looking query values and every form of the key masked."""
    return keyguard.redactor()(sanitize_url(url))


class GuardedAdapter(DeadlineAdapter):
    """Every response whole within ``request_timeout``, and no redirect out of the request's origin."""

    def __init__(self, request_timeout: float = REQUEST_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.request_timeout = request_timeout

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> Response:
        deadline = time.monotonic() + self.request_timeout
        with sending_by(deadline) as cut:  # the status line and headers by the deadline too
            try:
                response = super().send(
                    request,
                    stream=True,
                    timeout=self.request_timeout,
                    verify=verify,
                    cert=cert,
                    proxies=proxies,
                )
            except (RequestException, OSError):
                if not cut.expired.is_set():
                    raise
                response = None
        if response is None:
            raise self._too_slow(request.url or "", request)
        url = request.url or ""
        refused = refused_redirect(url, response, show=safe_url) if response.is_redirect else None
        if refused:
            response.close()
            raise RedirectRefusedError(f"GET {safe_url(url)}: {refused}")
        if not read_by(response, deadline):
            raise self._too_slow(response.url or "", response.request)
        return response

    def _too_slow(self, url: str, request: Any) -> DeadlineExceeded:
        message = (
            f"the response from {safe_url(url)} took longer than request_timeout "
            f"({self.request_timeout:g} s) from connect to last byte"
        )
        log.warning("%s", message)
        return DeadlineExceeded(message, request=request)


def retrying_session(
    max_attempts: int = MAX_ATTEMPTS,
    backoff_factor: float = BACKOFF_FACTOR,
    max_retry_delay: float = MAX_RETRY_DELAY,
    request_timeout: float = REQUEST_TIMEOUT,
) -> Session:
    """A requests session whose ``send`` retries exactly ``RETRY_STATUSES`` (plus dropped
    connections and timeouts, dlt's default, the deadline included) with the documents' attempt
    count and backoff, honouring ``Retry-After``; every response through ``GuardedAdapter``.

    Built here, explicitly, because dlt's ``RESTClient`` otherwise builds its own session
    retrying every 5xx with attempts and backoff read from ``[runtime]`` at construction time.
    Arguments passed explicitly win over dlt's config injection into ``Client``.
    """
    client = Client(
        request_timeout=request_timeout,
        raise_for_status=False,  # rest_api raises through its response hooks, after our checks
        status_codes=RETRY_STATUSES,
        request_max_attempts=max_attempts,
        request_backoff_factor=backoff_factor,
        request_max_retry_delay=max_retry_delay,
        respect_retry_after_header=True,
    )
    session = client.session
    adapter = GuardedAdapter(request_timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.max_redirects = MAX_REDIRECTS
    return session
