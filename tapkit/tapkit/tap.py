"""The one base tap: settings every API shares, their validation, and one-line failures."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import typing as t
from functools import cached_property
from urllib.parse import urlsplit

from jsonschema import Draft7Validator
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError

from tapkit.errors import ConfigError, TapkitError
from tapkit.fetcher import RequestGate
from tapkit.writer import FastSingerWriter

if t.TYPE_CHECKING:
    from types import FrameType

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
            "user_agent": {
                "type": "string",
                "title": "User agent",
                "description": "User-Agent header sent with every request. Default: <tap name>/<version>.",
            },
        },
        "required": ["api_key"],
    }


def _explain(error: ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "config"
    if error.validator == "required":
        return f"{where}: missing required setting {error.message.split(' ')[0]}"
    if error.validator in ("minimum", "exclusiveMinimum"):
        return f"{where}: {error.instance!r} is too small (minimum {error.validator_value})"
    if error.validator == "minLength":
        return f"{where}: must not be empty"
    if error.validator == "type":
        return f"{where}: {error.instance!r} is not of type {error.validator_value}"
    return f"{where}: {error.message}"


class RestTap(Tap):
    """Base tap: subclasses set ``name``, ``default_base_url`` and ``stream_types``."""

    default_base_url: t.ClassVar[str] = "https://api.example.com"
    stream_types: t.ClassVar[t.Sequence[type[OffsetStream]]] = ()

    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.config_jsonschema = settings_schema(cls.default_base_url)

    message_writer_class = FastSingerWriter
    _stopping = False

    @cached_property
    def request_gate(self) -> RequestGate:
        """Shared by every request of this tap: rate limits are per API key, not per stream."""
        return RequestGate(
            max_concurrency=int(self.config.get("max_concurrency") or 8),
            max_requests_per_second=self.config.get("max_requests_per_second"),
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
        self._state_writer.write_state(self.state)
        sys.stdout.flush()
        os._exit(128 + signum)

    def discover_streams(self) -> list[OffsetStream]:
        return [stream_type(tap=self) for stream_type in self.stream_types]

    def _coerce_numbers(self) -> None:
        """Numeric settings given as strings (environment variables, Meltano's string kind) become numbers."""
        for name, prop in self.config_jsonschema["properties"].items():
            value = self._config.get(name)
            kinds = prop.get("type")
            if not isinstance(value, str) or kinds not in ("integer", "number"):
                continue
            # A value that does not parse is left as is: validation names the setting and the value.
            with contextlib.suppress(ValueError):
                self._config[name] = int(value) if kinds == "integer" else float(value)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        self._coerce_numbers()
        errors = [_explain(e) for e in Draft7Validator(self.config_jsonschema).iter_errors(dict(self.config))]
        base_url = self.config.get("base_url")
        if isinstance(base_url, str):
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                errors.append(f"base_url: {base_url!r} is not an http(s) URL")
        if errors and raise_errors:
            raise ConfigError(f"invalid config: {'; '.join(errors)}", errors=errors)
        for error in errors:
            self.logger.warning("invalid config: %s", error)
        return errors

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the CLI; a failure we can explain ends with one line on stderr and exit code 1."""
        try:
            super().invoke(*args, **kwargs)
        except ConfigValidationError as exc:
            message = str(exc) if isinstance(exc, ConfigError) else "; ".join(exc.errors) or str(exc)
            cls.logger.error("%s: %s", cls.name, message)
            sys.exit(1)
        except TapkitError as exc:
            cls.logger.error("%s: %s", cls.name, exc)
            sys.exit(1)
