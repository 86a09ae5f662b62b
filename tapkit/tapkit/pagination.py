"""Offset pagination that never skips a record.

Real APIs clamp or ignore page sizes they do not like. So the offset advances by the number of
records that arrived, never by the number asked for, and a page shorter than asked for only ends
the stream once the server has shown that it honours our page size (an earlier page came back
exactly full). Otherwise the end is an empty page: at most one extra request per stream.
"""

from __future__ import annotations


class OffsetPaginator:
    def __init__(self, page_size: int, start: int = 0) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.page_size = page_size
        self.offset = start
        self.pages = 0
        self.finished = False
        self._size_honoured = False

    def advance(self, received: int) -> None:
        """Record that the page at ``self.offset`` held ``received`` records."""
        self.pages += 1
        if received == 0:
            self.finished = True
            return
        self.offset += received
        if received == self.page_size:
            self._size_honoured = True
        elif received < self.page_size and self._size_honoured:
            self.finished = True
