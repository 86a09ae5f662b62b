"""The command line's own failures: one line on stderr and exit code 1, at once; files the user gave
checked before the SDK reads them."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import typing as t
from decimal import Decimal


def fail(logger: logging.Logger, message: str) -> t.NoReturn:
    """End the process with one line on stderr, now: flush what was written, leave no thread behind."""
    logger.error("%s", message)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(1)


def _file_problem(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"not JSON ({exc})"


def _load_json(text: str) -> t.Any:
    return json.loads(text, parse_float=Decimal)  # decimals as the SDK reads its files


def read_json(path: str) -> t.Any:
    with open(path, encoding="utf-8") as file:
        return _load_json(file.read())


def json_object(logger: logging.Logger, what: str, read: t.Callable[[], t.Any]) -> None:
    """Read a file the user gave (``what`` names it); one line when it cannot be read or holds no JSON
    object."""
    try:
        content = read()
    except (OSError, ValueError) as exc:
        fail(logger, f"{what}: {_file_problem(exc)}")
    if not isinstance(content, dict):
        fail(logger, f"{what}: expected a JSON object, got {type(content).__name__}")


def checked_file(logger: logging.Logger, what: str, handle: t.IO[str] | None) -> t.IO[str] | None:
    """The file again, after checking it holds a JSON object (``what``: the tap and the kind of file)."""
    if handle is None:
        return None
    text = handle.read()
    json_object(logger, f"{what} file {getattr(handle, 'name', '')}", lambda: _load_json(text))
    return io.StringIO(text)
