"""Failures the dlt sources raise with a message complete on one line (the runner prints it as it is,
prefixed with the resource dlt was extracting when the message does not name one)."""

from __future__ import annotations

from requests.exceptions import ReadTimeout


class SourceError(Exception):
    """A failure explained by its message: no traceback needed."""


class SettingError(SourceError):
    """A setting that cannot be used, found before any request."""


class EnvelopeError(SourceError):
    """A 2xx response whose body does not hold the records where the document says they are, or holds
    a value dlt cannot load. The message names the resource."""


class EndlessListingError(SourceError):
    """The listing does not end: its pages hold only records already written, or max_pages is reached."""


class ListingShiftedError(SourceError):
    """A page did not begin with the last record of the page before: the offsets do not count records
    (they count pages, or are ignored), or records moved while the listing was paged."""


class RedirectRefusedError(SourceError):
    """A redirect out of the API's origin: following it would send the key elsewhere."""


class DeadlineExceeded(ReadTimeout):
    """The whole response did not arrive within request_timeout: retried like a read timeout."""
