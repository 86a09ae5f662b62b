"""The one base tap: settings every API shares, their validation, and one-line failures."""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import json
import logging
import math
import os
import signal
import sys
import typing as t
from decimal import Decimal
from urllib.parse import urlsplit

from jsonschema import Draft7Validator
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError

import keyguard
from tapkit.contract import CONTRACTS, DEFAULT_CONTRACT
from tapkit.errors import ConfigError, StateError, TapkitError
from tapkit.fetcher import RequestGate
from tapkit.sampling import sample_schemas
from tapkit.state import RESUME_KEY, UnusableBookmark, read_resume
from tapkit.writer import FastSingerWriter

if t.TYPE_CHECKING:
    from types import FrameType

    import click
    from jsonschema.exceptions import ValidationError

    from tapkit.stream import OffsetStream


def settings_schema(default_base_url: str) -> dict[str, t.Any]:
    """The settings of every tap built on the kit (shown by ``--about``)."""
    return {
        "type": "object",
        "properties": {
            "api_key": {
                "type": "string",
                "minLength": 1,
                "secret": True,
                "writeOnly": True,
                "title": "API key",
                "description": "The API key. Never logged, never written to state.",
            },
            "base_url": {
                "type": "string",
                "default": default_base_url,
                "title": "Base URL",
                "description": f"Base URL of the API (http or https). Default: {default_base_url}",
            },
            "max_retries": {
                "type": "integer",
                "minimum": 0,
                "default": 3,
                "title": "Max retries",
                "description": "Retries after a 429, 500, 502, 503, 504, dropped connection or timeout "
                "(3 retries = 4 attempts).",
            },
            "backoff_factor": {
                "type": "number",
                "minimum": 0,
                "default": 2,
                "title": "Backoff factor",
                "description": "Wait factor * 2^(n-1) seconds before retry n (2, 4, 8 s by default), unless "
                "the server's Retry-After says otherwise.",
            },
            "request_timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 60,
                "title": "Request timeout",
                "description": "Seconds to wait for a response before the attempt counts as failed.",
            },
            "max_concurrency": {
                "type": "integer",
                "minimum": 1,
                "default": 8,
                "title": "Max concurrency",
                "description": "Pages of one stream requested at the same time. Records are still written "
                "strictly in page order; 1 fetches one page after another.",
            },
            "max_requests_per_second": {
                "type": "number",
                "exclusiveMinimum": 0,
                "title": "Max requests per second",
                "description": "Optional ceiling on the request rate of the whole tap. A 429 response also "
                "pauses all requests and halves the pages in flight.",
            },
            "max_backoff_seconds": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 60,
                "title": "Max backoff seconds",
                "description": "Ceiling on one backoff wait, jitter included, however many retries.",
            },
            "max_retry_after_seconds": {
                "type": "number",
                "minimum": 0,
                "default": 300,
                "title": "Max Retry-After seconds",
                "description": "The longest Retry-After the tap waits for. A server asking for longer ends "
                "the stream with an error that says so, instead of a sync that looks hung.",
            },
            "max_pages": {
                "type": "integer",
                "minimum": 1,
                "title": "Max pages",
                "description": "Optional ceiling on the requests of one stream: a listing that would need "
                "more ends the stream with an error (a guard against APIs whose listings never end).",
            },
            "strict_decoding": {
                "type": "boolean",
                "default": False,
                "title": "Strict decoding",
                "description": "Fail on a response with bytes that are not valid in its charset. By default "
                "they become U+FFFD, the record is kept and a warning says how many bytes were replaced.",
            },
            "page_overlap": {
                "type": "integer",
                "minimum": 0,
                "default": 1,
                "title": "Page overlap",
                "description": "Records each page re-reads from the end of the page before. If they are not "
                "where they were, records were inserted or deleted during the sync: the tap finds its place "
                "again instead of skipping records. 0 requests exactly the document's offsets and detects "
                "nothing.",
            },
            "schema_contract": {
                "type": "string",
                "enum": list(CONTRACTS),
                "default": DEFAULT_CONTRACT,
                "title": "Schema contract",
                "description": "What a sync does with a property the schema does not declare or a value "
                "of another type (dlt's names): evolve widens the schema and sends a new SCHEMA message "
                "before the record, which goes out whole; freeze fails the stream with one line; "
                "discard_value drops undeclared properties with a warning.",
            },
            "schema_sample_records": {
                "type": "integer",
                "minimum": 0,
                "title": "Schema sample records",
                "description": "--discover reads up to this many records of each stream and merges the "
                "properties and types it saw into the declared schema, with a drift report on stderr. Off "
                "unless set, and when the API cannot be reached.",
            },
            "schema_report": {
                "type": "string",
                "title": "Schema report",
                "description": "With schema_sample_records: --discover writes the drift report "
                "(properties sent but not declared, declared but never seen, type conflicts, per stream) to "
                "this file, as JSON if its name ends in .json, else as Markdown.",
            },
            "user_agent": {
                "type": "string",
                "title": "User agent",
                "description": "User-Agent header sent with every request. Default: <tap name>/<version>.",
            },
        },
        "required": ["api_key"],
    }


# Settings sent in a request header: control characters there would split or corrupt the header.
HEADER_SETTINGS = ("api_key", "user_agent")


def _explain(error: ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "config"
    if error.validator == "required":
        return f"{where}: missing required setting {error.message.split(' ')[0]}"
    if error.validator == "minimum":
        return f"{where}: {error.instance!r} is too small (minimum {error.validator_value})"
    if error.validator == "exclusiveMinimum":
        return f"{where}: {error.instance!r} is too small (it must be more than {error.validator_value})"
    if error.validator == "minLength":
        return f"{where}: must not be empty"
    if error.validator == "type":
        value = str(error.instance) if isinstance(error.instance, Decimal) else repr(error.instance)
        kind = {"integer": "a whole number", "number": "a number"}.get(error.validator_value)
        return f"{where}: {value} is not {kind or f'of type {error.validator_value}'}"
    return f"{where}: {error.message}"


def _number(value: t.Any, kind: str) -> t.Any:
    """A numeric setting as the tap uses it: numbers from strings (environment variables, Meltano's string
    kind) and from JSON's decimals; a value that is not a number is left for validation to name."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except ArithmeticError:
            return value
    if isinstance(value, Decimal | float):
        if not math.isfinite(value):
            return value
        if kind == "integer":
            return int(value) if value == int(value) else value
        return float(value)
    return value


def _control_characters(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def _fail(logger: logging.Logger, message: str) -> t.NoReturn:
    """End the process with one line on stderr, now: flush what was written, leave no thread behind."""
    logger.error("%s", message)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(1)


class RestTap(Tap):
    """Base tap: subclasses set ``name``, ``default_base_url`` and ``stream_types``; a tap adds settings
    of its own by declaring ``config_jsonschema`` (they are merged with the kit's)."""

    default_base_url: t.ClassVar[str] = "https://api.example.com"
    stream_types: t.ClassVar[t.Sequence[type[OffsetStream]]] = ()

    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        super().__init_subclass__(**kwargs)
        schema = settings_schema(cls.default_base_url)
        own = cls.__dict__.get("config_jsonschema") or {}
        schema["properties"].update(own.get("properties", {}))
        schema["required"] = sorted({*schema["required"], *own.get("required", [])})
        cls.config_jsonschema = schema

    message_writer_class = FastSingerWriter
    _stopping = False

    @functools.cached_property
    def redactor(self) -> keyguard.Redactor:
        """Masks every form of every secret setting in whatever this process logs or prints."""
        secrets = [
            self.config.get(name)
            for name, prop in self.config_jsonschema["properties"].items()
            if prop.get("secret")
        ]
        return keyguard.install(*(s for s in secrets if isinstance(s, str)))

    @functools.cached_property
    def request_gate(self) -> RequestGate:
        """Shared by every request of this tap: rate limits are per API key, not per stream."""
        return RequestGate(
            max_concurrency=int(self.config.get("max_concurrency") or 8),
            max_requests_per_second=self.config.get("max_requests_per_second"),
            log=lambda message: self.logger.info("%s: %s", self.name, message),
        )

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: never cut a line in half; leave the state of the pages fully written; exit
        non-zero (the sync is incomplete), so a scheduler knows to run it again."""
        if self._stopping:
            return
        writer = self.message_writer
        if isinstance(writer, FastSingerWriter) and writer.writing:
            writer.pending_signal = signum  # the write in progress ends first, then we stop
            writer.on_signal = self._stop_on_signal
            return
        self._stop_on_signal(signum)

    def _stop_on_signal(self, signum: int) -> None:
        self._stopping = True
        name = signal.Signals(signum).name
        self.logger.warning("%s: %s received: stopping; a rerun with the last state resumes", self.name, name)
        self.state_writer.write_state(self.state)
        sys.stdout.flush()
        os._exit(128 + signum)

    def discover_streams(self) -> list[OffsetStream]:
        return [stream_type(tap=self) for stream_type in self.stream_types]

    def run_discovery(self) -> str:
        sample_schemas(self)  # schema_sample_records: the declared schemas widened by what the API sends
        return super().run_discovery()

    # -- state ---------------------------------------------------------------------------------

    def load_state(self, state: dict[str, t.Any]) -> None:
        """Check every bookmark before any request: a state that is not a Singer state fails; a
        stream's bookmark that cannot be resumed from is dropped with a warning (the stream starts
        again from 0), so no unusable state is written back."""
        if not isinstance(state, dict):
            raise StateError(f"state: expected a JSON object with 'bookmarks', got {type(state).__name__}")
        bookmarks = state.get("bookmarks", {})
        if not isinstance(bookmarks, dict):
            raise StateError(f"state: 'bookmarks' is not an object ({type(bookmarks).__name__})")
        usable: dict[str, t.Any] = {}
        paginated = {s.name: s for s in self.streams.values() if getattr(s, "page_size", None) is not None}
        for name, bookmark in bookmarks.items():
            stream = paginated.get(name)
            try:
                if stream is not None:
                    read_resume(bookmark, len(stream.primary_keys))
                elif not isinstance(bookmark, dict):
                    raise UnusableBookmark(f"the bookmark is not an object ({type(bookmark).__name__})")
            except UnusableBookmark as problem:
                self.logger.warning(
                    "state: stream '%s': %s; the stream starts again from offset 0", name, problem
                )
                if isinstance(bookmark, dict):
                    usable[name] = {k: v for k, v in bookmark.items() if k != RESUME_KEY}
                continue
            usable[name] = bookmark
        super().load_state({**state, "bookmarks": usable})

    # -- config --------------------------------------------------------------------------------

    def _normalize_config(self) -> list[str]:
        """Numbers from strings and decimals; header settings stripped of surrounding whitespace (with a
        warning naming the setting) and refused with control characters inside. Returns the errors."""
        errors = []
        config = self._config
        for name, prop in self.config_jsonschema["properties"].items():
            kind = prop.get("type")
            if name in config and kind in ("integer", "number"):
                config[name] = _number(config[name], kind)
        for name in HEADER_SETTINGS:
            value = config.get(name)
            if not isinstance(value, str):
                continue
            if value != value.strip():
                self.logger.warning("config: %s has whitespace around it: it is stripped", name)
                config[name] = value = value.strip()
            if _control_characters(value):
                errors.append(f"{name}: contains control characters (a line break, tab or other)")
        return errors

    def _unknown_settings(self) -> None:
        known = set(self.config_jsonschema["properties"])
        unknown = sorted(set(self.config) - known)
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.logger.warning("config: unknown setting '%s' is ignored%s", name, hint)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        self.append_builtin_config(self.config_jsonschema)
        errors = self._normalize_config()
        errors += [
            _explain(e) for e in Draft7Validator(self.config_jsonschema).iter_errors(dict(self.config))
        ]
        base_url = self.config.get("base_url")
        if isinstance(base_url, str):
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                errors.append(f"base_url: {base_url!r} is not an http(s) URL")
        self.redactor  # noqa: B018 (from now on no secret setting appears in any log line)
        if errors and raise_errors:
            raise ConfigError(f"invalid config: {'; '.join(errors)}", errors=errors)
        for error in errors:
            self.logger.warning("invalid config: %s", error)
        self._unknown_settings()
        return errors

    # -- the command line ----------------------------------------------------------------------

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """Config files: one line naming the file when one cannot be read or is not a JSON object."""
        for path in value:
            if path != "ENV":
                _json_object(cls, f"config file {path}", functools.partial(_read_json, path))
        return super().cb_config(ctx, param, value)

    @classmethod
    def invoke(
        cls,
        *,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
        **kwargs: t.Any,
    ) -> None:
        """Run the CLI; a failure we can explain ends with one line on stderr and exit code 1, at once."""
        state = _checked_file(cls, "state", state)
        catalog = _checked_file(cls, "catalog", catalog)
        try:
            super().invoke(state=state, catalog=catalog, **kwargs)
        except ConfigValidationError as exc:
            _fail(
                cls.logger,
                f"{cls.name}: {exc if isinstance(exc, ConfigError) else '; '.join(exc.errors) or exc}",
            )
        except TapkitError as exc:
            _fail(cls.logger, f"{cls.name}: {exc}")


def _file_problem(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"not JSON ({exc})"


def _load_json(text: str) -> t.Any:
    return json.loads(text, parse_float=Decimal)  # decimals as the SDK reads its files


def _read_json(path: str) -> t.Any:
    with open(path, encoding="utf-8") as file:
        return _load_json(file.read())


def _json_object(tap: type[RestTap], what: str, read: t.Callable[[], t.Any]) -> None:
    """Read a file the user gave; one line naming it when it cannot be read or holds no JSON object."""
    try:
        content = read()
    except (OSError, ValueError) as exc:
        _fail(tap.logger, f"{tap.name}: {what}: {_file_problem(exc)}")
    if not isinstance(content, dict):
        _fail(tap.logger, f"{tap.name}: {what}: expected a JSON object, got {type(content).__name__}")


def _checked_file(tap: type[RestTap], what: str, handle: t.IO[str] | None) -> t.IO[str] | None:
    """The file again, after checking it holds a JSON object."""
    if handle is None:
        return None
    text = handle.read()
    _json_object(tap, f"{what} file {getattr(handle, 'name', '')}", lambda: _load_json(text))
    return io.StringIO(text)
