"""The Singer message reader: bytes from stdin, msgspec's C decoder, every number kept exactly.

Floats decode to `decimal.Decimal` (integers of any size stay exact anyway), so no digit a tap sends is
rounded through a double on its way to the spool file. A line that is not a JSON object fails on one line
naming its number.
"""

from __future__ import annotations

import decimal
import sys
import typing as t

import msgspec
from singer_sdk.singerlib.encoding.base import GenericSingerReader

from loaderkit.errors import LoadError

_decoder = msgspec.json.Decoder(float_hook=decimal.Decimal)


class BulkReader(GenericSingerReader[bytes]):
    """Reads Singer messages from binary stdin (or a file), skipping blank lines, counting lines."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0

    @property
    def default_input(self) -> t.IO[bytes]:
        return sys.stdin.buffer

    def process_lines(
        self, file_input: t.IO[bytes] | None, callbacks: dict[str, t.Callable[[dict], None]]
    ) -> t.Counter[str]:
        lines = (line for line in (file_input or self.default_input) if line.strip())
        return super().process_lines(lines, callbacks)  # type: ignore[arg-type]

    def deserialize_json(self, line: bytes) -> dict:
        self.line_number += 1
        try:
            message = _decoder.decode(line)
        except msgspec.DecodeError as exc:
            start = line[:60].decode("utf-8", "replace") if isinstance(line, bytes) else line[:60]
            raise LoadError(f"input line {self.line_number} is not JSON ({exc}): {start!r}") from None
        if not isinstance(message, dict) or "type" not in message:
            raise LoadError(f"input line {self.line_number} is not a Singer message (no 'type' key)")
        return message
