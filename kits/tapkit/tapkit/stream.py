"""The one base stream for offset-paginated JSON REST APIs.

A stream of a tap built on this kit is declarative::

    class TasksStream(CRMStream):
        name = "tasks"
        path = "/v1/tasks"
        page_size = 20          # None: the API does not paginate this resource, one request

while the tap's own base class says what is true of the whole API: ``data_selector``,
``offset_param``, ``size_param``, ``auth_header`` and ``auth_prefix``, and ``schema``.
"""

from __future__ import annotations

import contextlib
import gzip
import operator
import threading
import time
import typing as t
import uuid
from collections import deque
from datetime import UTC, datetime
from functools import cached_property
from http import HTTPStatus

import requests
import requests.adapters
from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams import RESTStream

import keyguard
from keyguard.http import (
    MAX_REDIRECTS,
    DeadlineAdapter,
    origin,
    read_by,
    redirect_target,
    refused_redirect,
    sending_by,
)
from tapkit.body import NotJSONError, decode_json
from tapkit.conform import compile_conformer
from tapkit.contract import schema_guard
from tapkit.errors import (
    Cancelled,
    PaginationError,
    ResponseError,
    RetriableResponseError,
    RetriesExhaustedError,
    redact_url,
)
from tapkit.fetcher import pages_in_order
from tapkit.pagination import OffsetPaginator
from tapkit.retry import DEFAULT_MAX_BACKOFF_SECONDS, DEFAULT_MAX_RETRY_AFTER_SECONDS, RetryPolicy
from tapkit.state import RESUME_KEY, ResumePoint, read_resume
from tapkit.writer import FastSingerWriter, dumps_line, dumps_record

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig
    from singer_sdk.helpers.types import Context

    from tapkit.tap import RestTap

DEFAULT_REQUEST_TIMEOUT = 60.0
# Records each page re-reads from the page before, to notice data that moved under the offsets.
DEFAULT_PAGE_OVERLAP = 1
# What counts as a failed attempt worth another: a dropped connection, a timeout, a body cut short.
TRANSIENT_ERRORS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionResetError,
)


class OffsetStream(RESTStream[int]):
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

    # -- one page --------------------------------------------------------------------------

    def page_params(self, offset: int | None) -> dict[str, int]:
        if offset is None or self.page_size is None:
            return {}
        params = {self.offset_param: offset}
        if self.size_param:
            params[self.size_param] = self.page_size
        return params

    @cached_property
    def requests_session(self) -> requests.Session:
        """One keep-alive session per stream, with a connection for every page in flight."""
        session = requests.Session()
        adapter = DeadlineAdapter(
            pool_connections=1, pool_maxsize=self.rest_tap.request_gate.max_concurrency + 2
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    # Set while a page loop runs; set *off* (stopped) when it ends, however it ends, so that page
    # threads waiting to retry, or for the rate gate, give up instead of sending another request.
    _stop: threading.Event | None = None

    def request_decorator(self, func: t.Callable) -> t.Callable:
        """The documents' retry policy around one attempt ``func(prepared, context)``.

        In place of the SDK's backoff decorator: every wait here (backoff, Retry-After, the rate
        gate, a 429 pause) ends at once when the sync stops, and messages count the attempts made.
        """

        def send(prepared: requests.PreparedRequest, context: Context | None) -> requests.Response:
            policy, gate = self.retry_policy, self.rest_tap.request_gate
            attempt = 0
            while True:
                attempt += 1
                gate.wait_turn(self._stop)
                try:
                    response = func(prepared, context)
                except RetriableResponseError as exc:
                    response, why = exc.response, str(exc)
                    short = f"HTTP {response.status_code}" if response is not None else why
                except TRANSIENT_ERRORS as exc:
                    response, short = None, type(exc).__name__
                    why = f"{short}: {self.redact(str(exc))}"
                else:
                    gate.succeeded()
                    return response
                self._retry_wait(prepared, response, short, why, attempt, policy)

        return send

    def _retry_wait(
        self,
        prepared: requests.PreparedRequest,
        response: requests.Response | None,
        short: str,
        why: str,
        attempt: int,
        policy: RetryPolicy,
    ) -> None:
        """Wait before the next attempt (the line says ``short``), or raise (``why``) when none is left."""
        where = self._describe(prepared)
        attempts = "1 attempt" if attempt == 1 else f"{attempt} attempts"
        if attempt >= policy.max_attempts:
            raise RetriesExhaustedError(f"{where} failed after {attempts}: {why}")
        retry_after = response.headers.get("Retry-After") if response is not None else None
        wait = policy.wait(attempt, retry_after)
        if wait.too_long:
            raise RetriesExhaustedError(
                f"{where} failed after {attempts}: {why}; the server asks to wait {wait.asked:.0f} s "
                f"(Retry-After: {retry_after}), more than max_retry_after_seconds "
                f"({policy.max_retry_after:g}): not waiting that long"
            )
        if response is not None and response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
            self.rest_tap.request_gate.throttled(wait.seconds)
        asked = (
            ""
            if wait.asked is None
            else f" (the server asked for {wait.asked:.1f} s: Retry-After: {retry_after})"
        )
        self.logger.warning(
            "%s: %s; retry %d of %d in %.1f s%s",
            where,
            short,
            attempt,
            policy.max_retries,
            wait.seconds,
            asked,
        )
        if (self._stop or threading.Event()).wait(wait.seconds):
            raise Cancelled("the sync is stopping: no retry")

    def _send_once(self, prepared: requests.PreparedRequest, context: Context | None) -> requests.Response:
        """One attempt, whole within ``request_timeout``: send, follow redirects that stay within the
        API's origin (the key goes nowhere else), read the body, sort the status."""
        deadline = time.monotonic() + self.timeout
        first = prepared
        response = self._send_within(prepared, deadline)
        hops = 0
        while response.is_redirect:
            # every hop followed stayed within the origin of the first, so the current one's is it too
            url = prepared.url or ""
            refused = refused_redirect(url, response, show=lambda target: redact_url(target, self.redact))
            if refused:
                raise ResponseError(f"{self._describe(first)}: {refused}")
            hops += 1
            if hops > MAX_REDIRECTS:
                raise ResponseError(f"{self._describe(first)}: more than {MAX_REDIRECTS} redirects")
            prepared = prepared.copy()
            prepared.url = redirect_target(url, response)
            response = self._send_within(prepared, deadline)
        self.validate_response(response)
        return response

    def _send_within(self, prepared: requests.PreparedRequest, deadline: float) -> requests.Response:
        """Send and read the whole body by ``deadline``. requests' timeout bounds each socket read only
        (a server trickling a byte a second holds it for ever): past the deadline the connection is
        shut, and the attempt fails as a read timeout does."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise requests.exceptions.ReadTimeout(self._too_slow())
        url = prepared.url or ""
        with sending_by(deadline) as cut:  # the status line and headers by the deadline too
            try:
                response = self.requests_session.send(
                    prepared,
                    timeout=remaining,
                    allow_redirects=False,
                    **{**self._network_settings(url), "stream": True},
                )
            except (requests.exceptions.RequestException, OSError):
                if cut.expired.is_set():
                    raise requests.exceptions.ReadTimeout(self._too_slow()) from None
                raise
        if not read_by(response, deadline):
            raise requests.exceptions.ReadTimeout(self._too_slow())
        return response

    def _too_slow(self) -> str:
        return f"the response took longer than request_timeout ({self.timeout:g} s) from connect to last byte"

    def _network_settings(self, url: str) -> dict[str, t.Any]:
        """Proxies and CA bundle from the environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE...), as
        requests' own get() would use: the SDK sends prepared requests, which skip that merge."""
        key = origin(url)
        cache = self.__dict__.setdefault("_network_cache", {})
        if key not in cache:
            cache[key] = self.requests_session.merge_environment_settings(url, {}, None, None, None)
        return t.cast("dict[str, t.Any]", cache[key])

    @cached_property
    def _send(self) -> t.Callable[[requests.PreparedRequest, Context | None], requests.Response]:
        return self.request_decorator(self._send_once)

    def fetch_page(self, context: Context | None, offset: int | None) -> list[dict]:
        """One GET with the retry policy applied; the records under the data selector."""
        return self.extract_records(self.fetch_response(context, offset))

    def fetch_response(self, context: Context | None, offset: int | None) -> requests.Response:
        """One GET with the retry policy applied (page threads do only this: waiting, not parsing)."""
        prepared = self.build_prepared_request(
            method="GET",
            url=self.get_url(context),
            params=self.page_params(offset),
            headers=self.http_headers,
        )
        try:
            return self._send(prepared, context)
        except (requests.exceptions.RequestException, ConnectionResetError) as exc:
            raise ResponseError(
                f"{self._describe(prepared)}: {type(exc).__name__}: {self.redact(str(exc))}"
            ) from None

    def extract_records(self, response: requests.Response) -> list[dict]:
        """The records of a response, or a clear error: never a silent zero."""
        where = self._describe(response.request)
        try:
            decoded = decode_json(
                response.content,
                response.headers.get("Content-Type"),
                strict=bool(self.config.get("strict_decoding")),
            )
        except NotJSONError as exc:
            kind = response.headers.get("Content-Type", "no content type")
            raise ResponseError(
                f"{where}: the response is not JSON ({kind}): {exc}: "
                f"{self.redact.excerpt(response.content.decode('utf-8', 'replace'))}"
            ) from None
        body = decoded.value
        if decoded.replaced:
            self.logger.warning(
                "%s: %d byte(s) of the response were not valid %s and are replaced with U+FFFD "
                "(set strict_decoding to fail instead)",
                where,
                decoded.replaced,
                decoded.charset,
            )
        if not isinstance(body, dict) or self.data_selector not in body:
            found = sorted(body)[:10] if isinstance(body, dict) else type(body).__name__
            raise ResponseError(
                f"{where}: the response has no '{self.data_selector}' key holding the records "
                f"(found {found}): {self.redact.excerpt(response.content.decode('utf-8', 'replace'))}"
            )
        records = body[self.data_selector]
        if not isinstance(records, list):
            raise ResponseError(
                f"{where}: '{self.data_selector}' holds {type(records).__name__}, not a list of records"
            )
        try:  # every record an object with its primary key: checked at C speed, explained if not
            for key in self.primary_keys:
                deque(map(operator.itemgetter(key), records), maxlen=0)
        except (KeyError, TypeError, IndexError):
            pass
        else:
            return records
        for record in records:
            if not isinstance(record, dict) or any(key not in record for key in self.primary_keys):
                raise ResponseError(
                    f"{where}: a record is not an object with primary key {self.primary_keys}: "
                    f"{self.redact.excerpt(dumps_record(record).decode())}"
                )
        return records

    # -- status handling (called by the SDK's request loop) -------------------------------

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if self.retry_policy.is_retriable(status):
            raise RetriableResponseError(self._status_text(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            hint = ""
            if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                hint = " Check the api_key setting: the API refused it."
            raise ResponseError(f"{self._describe(response.request)}: {self._status_text(response)}.{hint}")

    def _status_text(self, response: requests.Response) -> str:
        return f"HTTP {response.status_code} {response.reason or ''}".rstrip() + (
            f": {self.redact.excerpt(response.text)}"
        )

    def _describe(self, request: requests.PreparedRequest | None) -> str:
        if request is None:
            return f"stream '{self.name}'"
        return f"stream '{self.name}': {request.method} {redact_url(request.url or '', self.redact)}"

    # -- the page loop ------------------------------------------------------------------------

    @property
    def resume_point(self) -> ResumePoint | None:
        """Where a previous, interrupted run of this stream got to (None: from the start).

        The tap checked every bookmark when it loaded the state, and dropped what it could not use.
        """
        return read_resume(self.stream_state, len(self.primary_keys))

    def new_paginator(self) -> OffsetPaginator:
        assert self.page_size is not None
        resume = self.resume_point
        overlap = int(self.config.get("page_overlap", DEFAULT_PAGE_OVERLAP))
        if resume:
            self.logger.info("stream '%s': resuming at %s=%d", self.name, self.offset_param, resume.offset)
        key = self.primary_keys[0]
        return OffsetPaginator(
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

    _paginator: OffsetPaginator | None = None

    def iter_pages(self, context: Context | None) -> t.Iterator[tuple[list[dict], dict | None]]:
        """``(records, resume point after them)`` for every page, in order; no resume if unpaginated."""
        self._stop = stop = threading.Event()
        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            if self.page_size is None:
                try:
                    records = self.fetch_page(context, None)
                finally:
                    stop.set()
                request_counter.increment()
                yield records, None
                return
            self._paginator = paginator = self.new_paginator()
            written = 0
            try:
                for _, page in pages_in_order(
                    lambda offset: self.fetch_response(context, offset),
                    self.extract_records,
                    paginator,
                    self.rest_tap.request_gate,
                    stop,
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
        """The SDK's per-record path (stream maps, flattening, dry runs): state after each page."""
        guard = schema_guard(self)
        for records, resume in self.iter_pages(context):
            if guard is not None:
                guard.page(records)  # a widened schema goes out before the page (schema_contract)
            yield from records
            # The SDK writes each record before asking for the next, so the page is out now.
            self._page_written(resume, map(dumps_record, records))
        self._stream_done()

    # -- the fast path -----------------------------------------------------------------------

    def _fast_path_applies(self) -> bool:
        """True when writing whole pages gives exactly what the SDK's per-record path gives. Anything
        that needs the SDK's per-record hooks takes the SDK's path: stream maps and flattening, child
        streams, nested deselection, a post_process override, a dry run's record limit
        (``--test``, ``ABORT_AT_RECORD_COUNT``), incremental replication, ACTIVATE_VERSION messages."""
        maps = self.stream_maps
        return (
            isinstance(self.rest_tap.message_writer, FastSingerWriter)
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and not self.child_streams
            and self.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.RECURSIVE
            and self._deselected_paths() is not None
            and type(self).post_process is OffsetStream.post_process
            and self.ABORT_AT_RECORD_COUNT is None
            and self.replication_key is None
            and not self.emit_activate_version_messages
        )

    def _deselected_paths(self) -> frozenset[str] | None:
        """Top-level properties the catalog deselects; None if a nested one is (the SDK path handles it)."""
        deselected = set()
        for breadcrumb, selected in self.mask.items():
            if selected or not breadcrumb:
                continue
            if len(breadcrumb) != 2:
                return None
            deselected.add(breadcrumb[1])
        return frozenset(deselected)

    def _renderer(self) -> t.Callable[[list[dict]], list[bytes]]:
        """Records of a page -> their JSON, as the SDK would write them: deselected properties and
        properties the schema does not declare dropped (the latter with one warning), booleans conformed."""
        deselected = self._deselected_paths() or frozenset()
        conform = compile_conformer(self.effective_schema)
        warned: set[str] = set()
        guard = schema_guard(self)

        def render(records: list[dict]) -> list[bytes]:
            nonlocal conform
            if guard is not None and guard.page(records):  # the schema widened (schema_contract)
                conform = compile_conformer(self.effective_schema)
            unmapped: list[str] = []
            if deselected:
                records = [{k: v for k, v in r.items() if k not in deselected} for r in records]
            if conform is not None:
                records = [conform(r, unmapped, None) for r in records]
            if unmapped and not warned.issuperset(unmapped):
                warned.update(unmapped)
                self.logger.warning(
                    "Properties %s were present in the '%s' stream but not found in catalog schema. "
                    "Ignoring.",
                    tuple(dict.fromkeys(unmapped)),
                    self.name,
                )
            return list(map(dumps_record, records))

        return render

    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict, t.Any, t.Any]:
        if not (write_messages and self.selected and self._fast_path_applies()):
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        writer = t.cast("FastSingerWriter", self.rest_tap.message_writer)
        render = self._renderer()
        head = dumps_line({"type": "RECORD", "stream": self.stream_maps[0].stream_alias})[:-2] + b',"record":'
        with self.get_record_counter() as record_counter, self.get_sync_timer():
            record_counter.with_context(context)
            for records, resume in self.iter_pages(context):
                lines = render(records)
                if lines:
                    extra: dict[str, t.Any] = {"time_extracted": datetime.now(UTC)}
                    tail = b"," + dumps_line(extra)[1:]
                    # One line per record, built by a single C-level join: head + record + tail.
                    writer.write_lines(head + (tail + head).join(lines) + tail)
                    record_counter.increment(len(lines))
                self._page_written(resume, lines)
        self._stream_done()

    # -- BATCH files -----------------------------------------------------------------------------

    _batching = False  # in a BATCH sync, STATE goes out after each file, not after each page

    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> t.Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
        """JSON Lines BATCH files written a page at a time, as the fast path writes RECORD messages.

        Before each file is handed over, the stream's resume point is set to the last page in it:
        the SDK writes the BATCH message and then STATE, so a sync killed at any moment resumes
        after the last file announced, never after records that are in no file. Other encodings
        (Parquet) and anything the fast path does not take go through the SDK's batcher; its
        files also end on STATE for a page at or before their last record.
        """
        self._batching = True
        try:
            if batch_config.encoding.format != "jsonl" or not self._fast_path_applies():
                yield from super().get_batches(batch_config, context)
                return
            yield from self._jsonl_batches(batch_config, context)
        finally:
            self._batching = False

    def _jsonl_batches(
        self, batch_config: BatchConfig, context: Context | None
    ) -> t.Iterator[tuple[BaseBatchFileEncoding, list[str]]]:
        storage, encoding = batch_config.storage, batch_config.encoding
        suffix = ".json.gz" if encoding.compression == "gzip" else ".json"
        name = f"{storage.prefix or ''}{self.tap_name}--{self.name}-{uuid.uuid4()}"
        render = self._renderer()
        files = 0
        with self.get_record_counter() as record_counter, contextlib.ExitStack() as open_file:
            out: t.IO[bytes] | gzip.GzipFile | None = None
            rows = 0
            for records, resume in self.iter_pages(context):
                lines = render(records)
                if lines:
                    if out is None:
                        files += 1
                        filename = f"{name}-{files}{suffix}"
                        out = open_file.enter_context(storage.open(filename, "wb"))
                        if encoding.compression == "gzip":
                            out = open_file.enter_context(gzip.GzipFile(fileobj=out, mode="wb"))
                    out.write(b"\n".join(lines) + b"\n")
                    rows += len(lines)
                    record_counter.increment(len(lines))
                self._page_written(resume, lines)
                if out is not None and rows >= batch_config.batch_size:
                    open_file.close()
                    out, rows = None, 0
                    yield encoding, [storage.get_url(filename)]
            if out is not None:
                open_file.close()
                yield encoding, [storage.get_url(filename)]
        self._stream_done()

    # RESTStream wants these; the page loop above does not use them.
    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        yield from self.extract_records(response)

    def get_new_paginator(self) -> None:
        return None
