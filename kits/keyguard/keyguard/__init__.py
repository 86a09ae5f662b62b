"""Keeps secrets out of everything a process prints.

A key leaks in more forms than its own: URL-encoded in a redirect URL (``quote`` or ``quote_plus``,
either hex case), JSON- or repr-escaped in an echoed body or an exception, base64-encoded inside a
Basic credential, with the whitespace it was pasted with. ``Redactor`` knows every such form of every
secret and masks them all; ``install`` puts one on every logging handler of the process (the SDK's,
dlt's and third-party loggers such as urllib3's log through them) and on uncaught exceptions.

Mask before you cut: ``Redactor.excerpt`` masks a body first and shortens it after, so no prefix of a
key survives a cut.

``keyguard.http`` holds the requests-level guards both variants use (the taps' kit and the dlt
sources): redirects followed only within the API's origin, and a deadline for the whole response.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import traceback
import typing as t
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values are not secrets worth shredding every message for (and would match everywhere).
MIN_SECRET_LENGTH = 4
EXCERPT_CHARS = 200


def _hex_cases(text: str) -> set[str]:
    """``text`` with its %XX escapes in upper and in lower case."""
    return {text, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)}


def _base64_cores(secret: str) -> set[str]:
    """What base64 of any text holding ``secret`` always contains, whatever comes before it: the
    encoding at each of the three byte alignments, without the characters the neighbours change."""
    raw = secret.encode()
    cores = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode()
        start = (pad * 4 + 2) // 3  # characters that depend on the bytes before the secret
        end = len(encoded) - (4 if (pad + len(raw)) % 3 else 0)  # and on the bytes after it
        core = encoded[start:end].rstrip("=")
        if len(core) >= MIN_SECRET_LENGTH + 2:
            cores.add(core)
    return cores


def forms(secret: str) -> set[str]:
    """Every form of ``secret`` that may appear in printed text."""
    found: set[str] = set()
    for value in {secret, secret.strip()}:
        if len(value) < MIN_SECRET_LENGTH:
            continue
        found.add(value)
        found |= _hex_cases(quote(value, safe=""))
        found |= _hex_cases(quote(value))
        found |= _hex_cases(quote_plus(value))
        found.add(json.dumps(value)[1:-1])  # as escaped inside a JSON string
        found.add(repr(value)[1:-1])  # inside a Python repr (exception text, header bytes)
        found.add(repr(value.encode())[2:-1])
        found |= _base64_cores(value)
        found.add(base64.urlsafe_b64encode(value.encode()).decode().rstrip("="))
    return {f for f in found if len(f) >= MIN_SECRET_LENGTH}


class Redactor:
    """Masks every form of every secret given (longest first, so no form leaves part of another)."""

    def __init__(self, secrets: t.Iterable[str | None] = ()) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        for secret in secrets:
            if isinstance(secret, str):
                self._forms |= forms(secret)
        ordered = sorted(self._forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def excerpt(self, text: str, limit: int = EXCERPT_CHARS) -> str:
        """The start of ``text`` on one line, masked *before* it is cut."""
        flat = " ".join(self(text).split())
        if len(flat) > limit:
            flat = flat[:limit] + "…"
        return flat or "(empty body)"


class RedactingFilter(logging.Filter):
    """On a handler: the record's message, arguments and exception text come out masked."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.redactor
        if not redact:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw parts, masked
            message = f"{record.msg} {record.args}"
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        # else the record stays as it was: formatters that read its parts (singer-sdk's structured
        # formatter turns `METRIC: %s` with its Point argument into the `metric_info` Meltano counts
        # records by) still see them.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_INSTALLED = Redactor()
_FILTER = RedactingFilter(_INSTALLED)


def _handlers() -> t.Iterator[logging.Handler]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        if isinstance(logger, logging.Logger):
            yield from logger.handlers


def install(*secrets: str | None) -> Redactor:
    """Mask ``secrets`` in everything this process logs: the filter goes on every handler there is
    (call again after a library adds its own) and on uncaught exceptions. Returns the process's
    redactor, for text printed otherwise."""
    _INSTALLED.add(*secrets)
    for handler in _handlers():
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    if not getattr(sys.excepthook, "_keyguard", False):

        def excepthook(kind: type[BaseException], value: BaseException, tb: t.Any) -> None:
            sys.stderr.write(_INSTALLED("".join(traceback.format_exception(kind, value, tb))))

        excepthook._keyguard = True  # type: ignore[attr-defined]
        sys.excepthook = excepthook
    return _INSTALLED


def redactor() -> Redactor:
    """The process's redactor (what ``install`` was given so far)."""
    return _INSTALLED
