"""One page of a stream: the GET, sent with the retry policy through the guarded session, its status sorted.

A stream's page loop hands the fetcher ``PageClient.response``, which runs in page threads and only
waits (on the rate gate, the network, a backoff), and ``tapkit.body.Envelope.records``, which runs in the
consuming thread and finds the records in the body.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from http import HTTPStatus

import requests

from keyguard.http import RedirectRefused
from tapkit.errors import ResponseError, RetriableResponseError, describe_request
from tapkit.retry import Attempts, send_with_retries


@dataclass(frozen=True)
class PageQuery:
    """The query parameters of a page: the offset and the page size, under the API's names."""

    offset_param: str
    size_param: str | None
    page_size: int | None  # None: the API does not paginate the resource, one request

    def params(self, offset: int | None) -> dict[str, int]:
        if offset is None or self.page_size is None:
            return {}
        params = {self.offset_param: offset}
        if self.size_param:
            params[self.size_param] = self.page_size
        return params


class PageClient:
    """GET pages of one stream: ``prepare(params=...)`` builds an authenticated request, ``session`` sends
    it (an ``OriginAdapter`` on it keeps the transport rules), ``attempts`` retries it."""

    def __init__(
        self,
        stream: str,
        prepare: t.Callable[..., requests.PreparedRequest],
        session: requests.Session,
        query: PageQuery,
        timeout: float,
        attempts: Attempts,
    ) -> None:
        self.stream = stream
        self.prepare = prepare
        self.session = session
        self.query = query
        self.timeout = timeout
        self.attempts = attempts

    def response(self, offset: int | None) -> requests.Response:
        """The response for the page at ``offset``, after the retries the policy allows."""
        prepared = self.prepare(params=self.query.params(offset))
        try:
            return send_with_retries(
                lambda: self._attempt(prepared), self.attempts, lambda: self.describe(prepared)
            )
        except (requests.exceptions.RequestException, ConnectionResetError) as exc:
            raise ResponseError(
                f"{self.describe(prepared)}: {type(exc).__name__}: {self.attempts.redact(str(exc))}"
            ) from None

    def _attempt(self, prepared: requests.PreparedRequest) -> requests.Response:
        """One attempt, whole within the timeout, redirects within the API's origin; the status sorted."""
        try:
            # proxies given: requests would otherwise read the whole environment for them on every send
            # (140 µs a request with 40 variables, more under Meltano); the OriginAdapter merges the
            # environment's, read once per origin, under the session's own.
            response = self.session.send(
                prepared, timeout=self.timeout, allow_redirects=False, proxies=dict(self.session.proxies)
            )
        except RedirectRefused as exc:
            raise ResponseError(f"{self.describe(prepared)}: {exc}") from None
        self._sort_status(response)
        return response

    def _sort_status(self, response: requests.Response) -> None:
        """A status worth another attempt raises RetriableResponseError; any other error, ResponseError."""
        status = response.status_code
        if self.attempts.policy.is_retriable(status):
            raise RetriableResponseError(self._status_text(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            hint = ""
            if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                hint = " Check the api_key setting: the API refused it."
            raise ResponseError(f"{self.describe(response.request)}: {self._status_text(response)}.{hint}")

    def _status_text(self, response: requests.Response) -> str:
        return f"HTTP {response.status_code} {response.reason or ''}".rstrip() + (
            f": {self.attempts.redact.excerpt(response.text)}"
        )

    def describe(self, request: requests.PreparedRequest | None) -> str:
        return describe_request(self.stream, request, self.attempts.redact)
