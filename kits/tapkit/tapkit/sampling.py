"""Discovery that looks: ``schema_sample_records: N`` makes ``--discover`` read up to N records of each
stream and merge what it saw into the declared schema (see :mod:`tapkit.drift`), with a drift report on
stderr and, with ``schema_report: FILE``, as JSON (``.json``) or Markdown (any other name) in FILE.

Sampling is off unless set. A stream whose records cannot be read keeps its declared schema, with a
warning; when a request gets no response at all (no connection, no answer in time), sampling stops there
(one attempt per stream, no retries: discovery must not hang on an API that is not there). An HTTP error
status is an answer: the other streams are still sampled.
"""

from __future__ import annotations

import re
import typing as t
from decimal import Decimal
from pathlib import Path

from tapkit.drift import allow_nulls, infer_records, merge
from tapkit.drift_report import DriftReport, StreamDrift
from tapkit.errors import TapkitError
from tapkit.retry import RetryPolicy

if t.TYPE_CHECKING:
    from singer_sdk import Tap


class _PagedStream(t.Protocol):
    """What sampling reads of a stream (an ``OffsetStream``): a protocol, so that tap.py, which calls
    sampling, is not imported back from here."""

    _paginator: t.Any

    def iter_pages(self, context: None) -> t.Iterator[tuple[list[dict], dict | None]]: ...


# How the retry loop names a request that got no response (tapkit.retry's transient errors)
_NO_ANSWER = re.compile(
    r"failed after \d+ attempts?: (ConnectionError|ConnectTimeout|ProxyError|SSLError|ReadTimeout|Timeout"
    r"|ChunkedEncodingError|ConnectionResetError)\b"
)


def _sample(stream: _PagedStream, limit: int) -> list[dict]:
    stream.__dict__["retry_policy"] = RetryPolicy(max_retries=0)  # one attempt: discovery must not hang
    records: list[dict] = []
    pages = t.cast("t.Generator[tuple[list[dict], dict | None], None, None]", stream.iter_pages(None))
    try:
        for page, _ in pages:
            records += page[: limit - len(records)]
            if len(records) >= limit:
                break
    finally:
        pages.close()  # stops the page threads
        stream.__dict__.pop("retry_policy", None)
        stream._paginator = None
    return records


def _keys_kept(tap: Tap, name: str, declared: dict, merged: dict, keys: t.Sequence[str] | None) -> dict:
    """``merged`` with the declared schema of each key property: a sync refuses a key whose type changes
    (tapkit.contract), so discovery does not widen one either; the report names the conflict."""
    props = declared.get("properties", {})
    for key in keys or ():
        if merged is declared or key not in props or merged["properties"].get(key) is props[key]:
            continue
        merged = {**merged, "properties": {**merged["properties"], key: props[key]}}
        tap.logger.warning(
            "schema sampling: stream '%s': key property '%s' arrived with a type its schema does not have; "
            "the declared type is kept (a key's type is not widened: declare the type the API sends)",
            name,
            key,
        )
    return merged if merged != declared else declared


def _limit(value: t.Any) -> int | None:
    """The setting as a number of records (0: off), or None when it is not one (discovery runs with a
    config the tap only warned about)."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return None
    try:
        number = int(value) if isinstance(value, int | float | Decimal) else int(str(value))
    except (TypeError, ValueError, OverflowError):
        return None
    if number != value and not isinstance(value, str):  # 2.5
        return None
    return number if number >= 0 else None


def sample_schemas(tap: Tap) -> DriftReport | None:
    """Widen every stream's schema by up to ``schema_sample_records`` records of it; None when off."""
    limit = _limit(tap.config.get("schema_sample_records"))
    if limit is None:
        tap.logger.warning(
            "schema sampling: not done: schema_sample_records must be a whole number of records, got %s",
            repr(value) if isinstance(value := tap.config.get("schema_sample_records"), str) else value,
        )
        return None
    if not limit:
        return None
    report = DriftReport()
    unreachable: str | None = None
    for stream in tap.streams.values():
        drift = StreamDrift(stream.name)
        report.streams.append(drift)
        if unreachable:
            drift.error = unreachable
            continue
        try:
            records = _sample(t.cast("_PagedStream", stream), limit)
        except TapkitError as exc:
            drift.error = str(exc).removeprefix(f"stream '{stream.name}': ")
            no_answer = _NO_ANSWER.search(drift.error)
            if no_answer:  # no response at all: the next streams would wait for the same (an HTTP error
                # status is an answer: the other streams are still asked)
                how = "did not answer in time" if "Timeout" in no_answer.group(1) else "was not reachable"
                unreachable = (
                    f"the API {how}; the declared schema is kept (stream '{stream.name}': "
                    f"{no_answer.group(1)})"
                )
            continue
        declared = stream.schema
        drift.note(declared, records)
        merged = merge(declared, infer_records(records))
        for record in records:
            merged = allow_nulls(merged, record)
        merged = _keys_kept(tap, stream.name, declared, merged, stream.primary_keys)
        if merged is not declared:
            declared.clear()
            declared.update(merged)
    for line in report.summary_lines():
        tap.logger.warning("schema sampling: %s", line)
    path = tap.config.get("schema_report")
    if path:
        text = report.to_json() if str(path).endswith(".json") else report.to_markdown()
        Path(path).write_text(text, encoding="utf-8")
        tap.logger.info("schema sampling: drift report written to %s", path)
    return report
