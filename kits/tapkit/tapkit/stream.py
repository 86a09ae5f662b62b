"""The one base stream for offset-paginated JSON REST APIs.

A stream of a tap built on this kit is declarative::

    class TasksStream(CRMStream):
        name = "tasks"
        path = "/v1/tasks"
        page_size = 20          # None: the API does not paginate this resource, one request

while the tap's own base class says what is true of the whole API: ``data_selector``,
``offset_param``, ``size_param``, ``auth_header`` and ``auth_prefix``, and ``schema``.

The rooms a page goes through: ``keyguard.http.OriginAdapter`` on the session (redirects, deadline,
environment), ``tapkit.client`` (one GET and its status), ``tapkit.retry`` (the policy and its loop),
``tapkit.gate`` (the tap's rate limit), ``tapkit.fetcher`` (pages in flight, in order), ``tapkit.body``
(decoding, the envelope around the records), ``tapkit.pagination`` (where the next page is), and
``tapkit.fastpath`` (writing pages and BATCH files).
This module wires them for one stream and keeps its state.
"""

from __future__ import annotations

import functools
import operator
import threading
import typing as t
from functools import cached_property

import requests
from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.streams import RESTStream

from keyguard.http import OriginAdapter
from tapkit.body import Envelope
from tapkit.client import PageClient, PageQuery
from tapkit.contract import schema_guard
from tapkit.errors import PaginationError, redact_url
from tapkit.fastpath import Page, PageWriter
from tapkit.fetcher import pages_in_order
from tapkit.pagination import OverlapPaginator
from tapkit.retry import DEFAULT_MAX_BACKOFF_SECONDS, DEFAULT_MAX_RETRY_AFTER_SECONDS, Attempts, RetryPolicy
from tapkit.state import RESUME_KEY, ResumePoint, read_resume
from tapkit.writer import dumps_record

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    import keyguard
    from tapkit.tap import RestTap

DEFAULT_REQUEST_TIMEOUT = 60.0
# Records each page re-reads from the page before, to notice data that moved under the offsets.
DEFAULT_PAGE_OVERLAP = 1


class OffsetStream(PageWriter):
    """GET a JSON resource page by page, records under a top-level data selector key."""

    def __init__(self, tap: RestTap, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(tap, *args, **kwargs)
        self.rest_tap = tap

    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = None

    # Per API (set on the tap's base stream):
    data_selector: t.ClassVar[str] = "data"
    offset_param: t.ClassVar[str] = "offset"
    size_param: t.ClassVar[str | None] = "limit"
    auth_header: t.ClassVar[str] = "Authorization"
    auth_prefix: t.ClassVar[str] = ""
    # Per resource: the document's page size; None when the document does not paginate it.
    page_size: t.ClassVar[int | None] = None

    # -- configuration -------------------------------------------------------------------

    @property
    def url_base(self) -> str:
        return str(self.config.get("base_url") or self.rest_tap.default_base_url).rstrip("/")

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=int(self.config.get("max_retries", 3)),
            backoff_factor=float(self.config.get("backoff_factor", 2)),
            max_backoff=float(self.config.get("max_backoff_seconds", DEFAULT_MAX_BACKOFF_SECONDS)),
            max_retry_after=float(
                self.config.get("max_retry_after_seconds", DEFAULT_MAX_RETRY_AFTER_SECONDS)
            ),
        )

    @property
    def timeout(self) -> float:  # type: ignore[override]
        return float(self.config.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT)

    @cached_property
    def user_agent(self) -> str:
        return str(self.config.get("user_agent") or f"{self.rest_tap.name}/{self.rest_tap.plugin_version}")

    @cached_property
    def authenticator(self) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(
            key=self.auth_header, value=f"{self.auth_prefix}{self.config['api_key']}", location="header"
        )

    @property
    def redact(self) -> keyguard.Redactor:
        """Masks every form of every secret setting (the tap installed it on the process's logging)."""
        return self.rest_tap.redactor

    @cached_property
    def requests_session(self) -> requests.Session:
        """One keep-alive session per stream, with a connection for every page in flight, and the
        transport rules (redirects within the origin, a deadline, the environment) on every send."""
        session = requests.Session()
        adapter = OriginAdapter(
            show=functools.partial(redact_url, redact=self.redact),
            pool_connections=1,
            pool_maxsize=self.rest_tap.request_gate.max_concurrency + 2,
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    # -- one page --------------------------------------------------------------------------

    def page_client(self, context: Context | None, stop: threading.Event) -> PageClient:
        """What GETs the pages of one page loop; ``stop`` set ends its waits and retries."""
        return PageClient(
            self.name,
            prepare=functools.partial(
                self.build_prepared_request, "GET", self.get_url(context), headers=self.http_headers
            ),
            session=self.requests_session,
            query=PageQuery(self.offset_param, self.size_param, self.page_size),
            timeout=self.timeout,
            attempts=Attempts(self.retry_policy, self.rest_tap.request_gate, stop, self.redact, self.logger),
        )

    def envelope(self) -> Envelope:
        """Where a response holds the records, and what each must have."""
        return Envelope(
            self.name,
            self.data_selector,
            self.primary_keys,
            strict=bool(self.config.get("strict_decoding")),
            redact=self.redact,
            log=self.logger,
            slices=self.raw_slices,
        )

    def extract_records(self, response: requests.Response) -> list[dict]:
        """The records of a response, or a clear error: never a silent zero."""
        return self.envelope().records(response)

    # -- the page loop ------------------------------------------------------------------------

    @property
    def resume_point(self) -> ResumePoint | None:
        """Where a previous, interrupted run of this stream got to (None: from the start).

        The tap checked every bookmark when it loaded the state, and dropped what it could not use.
        """
        return read_resume(self.stream_state, len(self.primary_keys))

    def new_paginator(self) -> OverlapPaginator:
        assert self.page_size is not None
        resume = self.resume_point
        overlap = int(self.config.get("page_overlap", DEFAULT_PAGE_OVERLAP))
        if resume:
            self.logger.info("stream '%s': resuming at %s=%d", self.name, self.offset_param, resume.offset)
        key = self.primary_keys[0]
        return OverlapPaginator(
            self.page_size,
            start=resume.offset if resume else 0,
            overlap=min(overlap, self.page_size - 1),
            key=operator.itemgetter(key) if len(self.primary_keys) == 1 else self._record_key,
            anchors=resume.anchors if resume else (),
            events=lambda message: self.logger.warning("stream '%s': %s", self.name, message),
            max_pages=self.config.get("max_pages"),
        )

    def _record_key(self, record: dict) -> tuple:
        return tuple(record[k] for k in self.primary_keys)

    _paginator: OverlapPaginator | None = None

    def iter_pages(self, context: Context | None) -> t.Iterator[Page]:
        """``(records, resume point after them)`` for every page, in order; no resume if unpaginated.

        However the loop ends, its stop event is set: page threads waiting to retry, or for the rate
        gate, give up instead of sending another request."""
        stop = threading.Event()
        client, envelope = self.page_client(context, stop), self.envelope()
        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            if self.page_size is None:
                try:
                    records = envelope.records(client.response(None))
                finally:
                    stop.set()
                request_counter.increment()
                yield records, None
                return
            self._paginator = paginator = self.new_paginator()
            written = 0
            try:
                for _, page in pages_in_order(
                    client.response, envelope.records, paginator, self.rest_tap.request_gate, stop
                ):
                    request_counter.increment()
                    written += len(page.records)
                    yield page.records, page.resume
            except PaginationError as exc:
                raise PaginationError(f"stream '{self.name}': {exc}") from None
            finally:
                self._paginator = None
            self.logger.info(
                "stream '%s': %d records from %d pages%s",
                self.name,
                written,
                paginator.pages,
                f"; the data moved {paginator.shifts} times and was followed" if paginator.shifts else "",
            )

    def _page_written(self, resume: dict | None, lines: t.Iterable[bytes] = ()) -> None:
        """Every record of the page is out (``lines``: as written): a rerun may start after it.

        STATE goes out now, after the page; in a BATCH sync, with the file the page is in.
        """
        if resume is None:
            return
        if self._paginator is not None:
            try:
                self._paginator.note_written(map(hash, lines))
            except PaginationError as exc:
                raise PaginationError(f"stream '{self.name}': {exc}") from None
        self.stream_state[RESUME_KEY] = resume
        self._state_changed()

    def _stream_done(self) -> None:
        """The whole listing is written: the next run starts from the beginning."""
        self.stream_state.pop(RESUME_KEY, None)
        self._state_changed()

    def _state_changed(self) -> None:
        """STATE goes out now; in a BATCH sync, after the next file (the SDK writes it then)."""
        if self._batching:
            self.state_manager.finalize_state(self.stream_state)  # due at the next file
        else:
            self.finalize_state_progress_markers(self.stream_state)  # due, and written

    def request_records(self, context: Context | None) -> t.Iterable[dict]:
        """The SDK's per-record path (stream maps, flattening, dry runs): state after each page.

        The SDK changes a record in place once it has it (it pops deselected properties, top-level and
        nested; a post_process override may change it too), while the paginator keeps the page's records
        to find them again in the page that re-reads them (page_overlap): where that can happen the SDK
        gets copies, and the paginator compares the records as the API sent them."""
        guard = schema_guard(self)
        unshare = self._sdk_changes_records()
        self.raw_slices.wanted, self.raw_slices.typed = False, None  # the SDK takes dicts, not bytes
        for records, resume in self.iter_pages(context):
            if guard is not None:
                guard.page(records)  # a widened schema goes out before the page (schema_contract)
            if unshare and resume is not None:
                yield from map(_unshared, records)
            else:
                yield from records
            # The SDK writes each record before asking for the next, so the page is out now.
            self._page_written(resume, map(dumps_record, records))
        self._stream_done()

    def _sdk_changes_records(self) -> bool:
        """True when the SDK's path changes records in place: a property deselected, or post_process
        overridden."""
        deselects = any(breadcrumb and not selected for breadcrumb, selected in self.mask.items())
        return deselects or type(self).post_process is not RESTStream.post_process

    # RESTStream wants these; the page loop above does not use them.
    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        yield from self.extract_records(response)

    def get_new_paginator(self) -> None:
        return None


def _unshared(value: t.Any) -> t.Any:
    """A copy of a decoded JSON value that shares no dict or list with it (4x as fast as deepcopy)."""
    kind = type(value)
    if kind is dict:
        return {k: _unshared(v) for k, v in value.items()}
    if kind is list:
        return [_unshared(v) for v in value]
    return value
