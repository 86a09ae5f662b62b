"""Errors that end a load with one clear line: what went wrong, in which stream, for which record."""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping, Sequence
from typing import Any

_VALUE_CHARS = 80
# A JSON-schema message that starts with the offending string value ("'x' is not of type 'integer'").
_QUOTED_VALUE = re.compile(
    r"""^(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")(?= (?:is|does|has|should|was|are) )"""
)


class LoadError(Exception):
    """A failure whose message is complete on one line; nothing of the failed batch was committed."""


class CommittedLoadError(LoadError):
    """A failure after the batch's commit (the message says so): the STATE covering it is owed."""


def short(value: Any) -> str:
    """A value as it would read in JSON, cut to a readable length."""
    if isinstance(value, decimal.Decimal):  # a number read digit for digit: 1.5, 1E+400
        text = str(value)
    else:
        text = repr(value) if not isinstance(value, str) else '"' + value + '"'
    text = " ".join(text.split())
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 3] + "..."


def describe_key(record: Mapping[str, Any] | None, keys: Sequence[str]) -> str:
    """`id=5` (or `a=1, b="x"`) for a record; the first fields when it has no key properties."""
    if not record:
        return "(empty record)"
    if keys and all(k in record for k in keys):
        return ", ".join(f"{k}={short(record[k])}" for k in keys)
    shown = list(record.items())[:2]
    return "with " + ", ".join(f"{k}={short(v)}" for k, v in shown) + (", ..." if len(record) > 2 else "")


def without_value(error: str) -> str:
    """A config validation error without the string value it names: a DSN pasted into the wrong setting
    carries a password ("'postgresql://u:secret@h/d' is not of type 'integer' in config['port']")."""
    return _QUOTED_VALUE.sub("the value", error)
