"""The one base tap: settings every API shares, their validation, and one-line failures."""

from __future__ import annotations

import difflib
import functools
import os
import signal
import sys
import typing as t
from urllib.parse import urlsplit

from jsonschema import Draft7Validator
from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError

import keyguard
from tapkit.cli import checked_file, fail, json_object, read_json
from tapkit.errors import ConfigError, StateError, TapkitError
from tapkit.gate import RequestGate
from tapkit.sampling import sample_schemas
from tapkit.settings import HEADER_SETTINGS, as_number, explain, has_control_characters, settings_schema
from tapkit.state import RESUME_KEY, UnusableBookmark, read_resume
from tapkit.writer import FastSingerWriter

if t.TYPE_CHECKING:
    from types import FrameType

    import click


class RestTap(Tap):
    """Base tap: subclasses set ``name``, ``default_base_url`` and ``stream_types``; a tap adds settings
    of its own by declaring ``config_jsonschema`` as any SDK tap does (shown after the kit's)."""

    default_base_url: t.ClassVar[str] = "https://api.example.com"
    stream_types: t.ClassVar[t.Sequence[type[Stream]]] = ()
    config_jsonschema = settings_schema(default_base_url)

    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        """Each tap's schema: the kit's settings for its API (``base_url`` defaults to it), then its own."""
        super().__init_subclass__(**kwargs)
        cls.config_jsonschema = settings_schema(cls.default_base_url, cls.__dict__.get("config_jsonschema"))

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

    def discover_streams(self) -> list[Stream]:
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
                config[name] = as_number(config[name], kind)
        for name in HEADER_SETTINGS:
            value = config.get(name)
            if not isinstance(value, str):
                continue
            if value != value.strip():
                self.logger.warning("config: %s has whitespace around it: it is stripped", name)
                config[name] = value = value.strip()
            if has_control_characters(value):
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
        errors += [explain(e) for e in Draft7Validator(self.config_jsonschema).iter_errors(dict(self.config))]
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
                json_object(cls.logger, f"{cls.name}: config file {path}", functools.partial(read_json, path))
        return super().cb_config(ctx, param, value)

    @classmethod
    def invoke(
        cls,
        *,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
        **kwargs: t.Any,
    ) -> None:
        """Run the CLI; a failure we can explain ends with one line on stderr and exit code 1, at once.

        Every file the tap creates (BATCH files and their folders) is for its owner alone (0600/0700),
        whatever umask it was started with: they hold records."""
        os.umask(os.umask(0o077) | 0o077)
        state = checked_file(cls.logger, f"{cls.name}: state", state)
        catalog = checked_file(cls.logger, f"{cls.name}: catalog", catalog)
        try:
            super().invoke(state=state, catalog=catalog, **kwargs)
        except ConfigValidationError as exc:
            fail(
                cls.logger,
                f"{cls.name}: {exc if isinstance(exc, ConfigError) else '; '.join(exc.errors) or exc}",
            )
        except TapkitError as exc:
            fail(cls.logger, f"{cls.name}: {exc}")
