"""The resume point a stream keeps in the Singer state, and what makes one unusable.

After every page written, a paginated stream's bookmark holds
``{"resume": {"offset": N, "anchors": [id, ...], "digests": [hex, ...]}}``: the records of the
listing before offset N were written, the last of them were the records with those ids and content
digests. A finished stream drops the key. A state written by hand, by an older version or by another
tool can hold anything there; ``read_resume`` says exactly what is wrong with it.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from decimal import Decimal

from tapkit.matching import Known

RESUME_KEY = "resume"
_SCALARS = (str, int, float, Decimal)


class UnusableBookmark(ValueError):
    """A stream's bookmark that cannot be resumed from."""


@dataclass(frozen=True)
class ResumePoint:
    offset: int
    anchors: tuple[Known, ...] = ()


def _describe(value: t.Any) -> str:
    return f"{value!r} ({type(value).__name__})" if len(repr(value)) <= 60 else type(value).__name__


def _is_key(value: t.Any, key_count: int) -> bool:
    if key_count == 1:
        return isinstance(value, _SCALARS) and not isinstance(value, bool)
    return (
        isinstance(value, list)
        and len(value) == key_count
        and all(isinstance(v, _SCALARS) and not isinstance(v, bool) for v in value)
    )


def read_resume(bookmark: t.Any, key_count: int = 1) -> ResumePoint | None:
    """The resume point in a stream's bookmark, None when it has none; UnusableBookmark if broken."""
    if not isinstance(bookmark, dict):
        raise UnusableBookmark(f"the bookmark is not an object: {_describe(bookmark)}")
    if RESUME_KEY not in bookmark:
        return None
    resume = bookmark[RESUME_KEY]
    if not isinstance(resume, dict):
        raise UnusableBookmark(f"'{RESUME_KEY}' is not an object: {_describe(resume)}")
    offset = resume.get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise UnusableBookmark(f"'{RESUME_KEY}.offset' is not a non-negative integer: {_describe(offset)}")
    anchors = resume.get("anchors", [])
    if not isinstance(anchors, list) or not all(_is_key(a, key_count) for a in anchors):
        shape = "scalar ids" if key_count == 1 else f"lists of {key_count} scalars"
        raise UnusableBookmark(f"'{RESUME_KEY}.anchors' is not a list of {shape}: {_describe(anchors)}")
    digests = resume.get("digests")
    if digests is not None and (
        not isinstance(digests, list)
        or len(digests) != len(anchors)
        or not all(isinstance(d, str) for d in digests)
    ):
        raise UnusableBookmark(
            f"'{RESUME_KEY}.digests' is not a list of {len(anchors)} strings: {_describe(digests)}"
        )
    if len(anchors) > offset:
        raise UnusableBookmark(f"'{RESUME_KEY}' has {len(anchors)} anchors before offset {offset}")
    keys = [tuple(a) if isinstance(a, list) else a for a in anchors]
    return ResumePoint(
        offset, tuple(Known(k, d) for k, d in zip(keys, digests or [None] * len(keys), strict=True))
    )
