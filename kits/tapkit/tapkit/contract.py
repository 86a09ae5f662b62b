"""What a sync does with a record the schema does not describe: the ``schema_contract`` setting.

Values as dlt names them:

- ``evolve`` (default): the stream's schema is widened to cover the record (the inferred property added,
  a conflicting type joined into a union, existing properties untouched), a new SCHEMA message goes out
  before the page that holds the record, once per change, and the record goes out whole.
- ``freeze``: the stream fails on the first record with an undeclared property or a type conflict, with
  one line naming the stream, the record's key, the property and what arrived.
- Under both, a key property whose value the schema's type does not cover (``id`` as ``"17"`` after 17)
  stops the stream with one line: a widened key would make 17 and "17" two records to a merging loader.
- ``discard_value``: singer-sdk's behaviour, explicit: undeclared properties are dropped with one warning
  per stream, values of another type pass as they came.

The check runs a page at a time (:class:`~tapkit.pagecheck.PageChecker`); only a page that does not fit is
looked at record by record. The stream calls :func:`schema_guard` (cached on the stream) and, per page,
``guard.page(records)``: True when the schema changed (its conformer must be rebuilt).
"""

from __future__ import annotations

import typing as t

from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.messages import SchemaMessage

from tapkit.drift import allow_nulls, covers, differences, example_of, infer, merge, type_name, types_of
from tapkit.errors import TapkitError
from tapkit.pagecheck import PageChecker
from tapkit.typed import typed

if t.TYPE_CHECKING:
    import logging

    from singer_sdk.mapper import StreamMap


class _MessageWriter(t.Protocol):
    def write_message(self, message: SchemaMessage) -> None: ...


class GuardedStream(t.Protocol):
    """What the guard reads of a stream (an ``OffsetStream`` has all of it). A protocol rather than the
    class, so the stream's modules import this one and not the other way round."""

    @property
    def name(self) -> str: ...
    @property
    def schema(self) -> dict: ...
    @property
    def effective_schema(self) -> dict: ...
    @property
    def primary_keys(self) -> t.Sequence[str] | None: ...
    @property
    def replication_key(self) -> str | None: ...
    @property
    def config(self) -> t.Mapping[str, t.Any]: ...
    @property
    def logger(self) -> logging.Logger: ...
    @property
    def rest_tap(self) -> _MessageWriter: ...
    @property
    def stream_maps(self) -> list[StreamMap]: ...


CONTRACTS = ("evolve", "freeze", "discard_value")
DEFAULT_CONTRACT = "evolve"


class SchemaDriftError(TapkitError):
    """A record the schema does not describe, under ``schema_contract: freeze``."""


class SchemaGuard:
    """Holds one stream's records to its contract, page by page."""

    def __init__(self, stream: GuardedStream, contract: str) -> None:
        self.stream = stream
        self.contract = contract
        self._checker = PageChecker(stream.effective_schema)

    def page(self, records: list[dict]) -> bool:
        """Apply the contract to a page before it is written; True when the stream's schema changed."""
        if typed(records) or self._checker(records):  # typed: read into the schema's types, so it fits
            return False
        schema = self.stream.effective_schema
        merged = schema
        for index in _misfits(self._checker, records, 0):
            record = records[index]
            self._check_keys(merged, record)
            widened = allow_nulls(merge(merged, infer(record)), record)
            if widened is merged:
                continue
            if self.contract == "freeze":
                self._refuse(merged, record)
            merged = widened
        if merged is schema:  # what the page check flags and the schema covers (a date-time's format)
            self._checker = PageChecker(schema)
            return False
        self._evolve(schema, merged)
        return True

    def _check_keys(self, schema: dict, record: dict) -> None:
        """A key property whose value the schema's type does not cover stops the stream, whatever the
        contract: widening it (integer to integer/string) would make 17 and "17" two records to a loader
        that merges on the key, and the rows loaded before under the old type would never be updated."""
        props = schema.get("properties", {})
        for name in self.stream.primary_keys or ():
            declared = props.get(name)
            if declared is None or name not in record or covers(declared, infer(record[name])):
                continue
            value = record[name]
            raise SchemaDriftError(
                f"stream '{self.stream.name}': record {_key_text(self.stream, record)}: key property "
                f"{name!r} arrived as {type_name(value)} ({example_of(value)}), the schema says "
                f"{'/'.join(types_of(declared))}: a key property's type is not widened (records already "
                "loaded under the old type would not match the new ones); the sync stops: declare the type "
                "the API sends for the key and sync again"
            )

    def _refuse(self, schema: dict, record: dict) -> t.NoReturn:
        stream = self.stream
        key = _key_text(stream, record)
        first = differences(schema, record)
        what = first[0].line() if first else "it does not fit the schema"
        raise SchemaDriftError(
            f"stream '{stream.name}': record {key}: {what} (schema_contract is freeze: the sync stops; "
            "set schema_contract to evolve to add it, or discard_value to drop undeclared properties)"
        )

    def _evolve(self, schema: dict, merged: dict) -> None:
        stream = self.stream
        added = changes(schema, merged)
        # the schema objects the SDK and the fast path read (stream schema, catalog schema, the map's) are
        # changed in place, so every reader sees the widened schema from the next record on
        for target in {id(s): s for s in _schemas(stream)}.values():
            target.clear()
            target.update(merged)  # merge() never changes a schema in place: sharing the rest is safe
        self._checker = PageChecker(merged)
        stream.logger.warning(
            "stream '%s': the API sent what the schema does not declare; schema widened (schema_contract "
            "evolve) and a new SCHEMA message sent: %s",
            stream.name,
            _listed(added),
        )
        bookmark_keys = [stream.replication_key] if stream.replication_key else None
        for stream_map in stream.stream_maps:
            stream.rest_tap.write_message(
                SchemaMessage(
                    stream_map.stream_alias,
                    stream_map.transformed_schema,
                    stream_map.transformed_key_properties,
                    bookmark_keys,
                )
            )


def _key_text(stream: GuardedStream, record: dict) -> str:
    return ", ".join(f"{k}={record.get(k)!r}" for k in stream.primary_keys or ())


def _misfits(check: PageChecker, records: list[dict], base: int) -> list[int]:
    """Indexes of the records that do not fit, found by halving the page (a few misfits in a page of a
    thousand cost a few page checks, not a thousand inferences)."""
    if check(records):
        return []
    if len(records) == 1:
        return [base]
    mid = len(records) // 2
    return _misfits(check, records[:mid], base) + _misfits(check, records[mid:], base + mid)


MAX_LISTED = 10  # changes named in the log line; a record with 2,000 new keys gets one line, not 60 kB


def _listed(added: list[str]) -> str:
    if not added:
        return "types widened"
    more = len(added) - MAX_LISTED
    return "; ".join(added[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


def changes(schema: dict, merged: dict, prefix: str = "") -> list[str]:
    """What ``merged`` adds to ``schema``, property by property, for the log line."""
    out = []
    old_props = schema.get("properties", {})
    for name, sub in merged.get("properties", {}).items():
        where = f"{prefix}.{name}" if prefix else name
        old = old_props.get(name)
        if old is None:
            out.append(f"{where!r} added ({'/'.join(types_of(sub))})")
        elif old != sub:
            if types_of(old) != types_of(sub) or old.get("format") != sub.get("format"):
                out.append(f"{where!r} widened ({'/'.join(types_of(old))} -> {'/'.join(types_of(sub))})")
            out += changes(old, sub, where)
            if isinstance(old.get("items"), dict) and isinstance(sub.get("items"), dict):
                out += changes(old["items"], sub["items"], f"{where}[]")
    return out


def _schemas(stream: GuardedStream) -> list[dict]:
    return [
        stream.schema,
        stream.effective_schema,
        *(m.transformed_schema for m in stream.stream_maps if isinstance(m, SameRecordTransform)),
    ]


def schema_guard(stream: GuardedStream) -> SchemaGuard | None:
    """The stream's guard (made once), or None under ``discard_value``, and where stream maps change the
    schema (flattening, aliases, computed properties): there the SDK's own conformance applies."""
    cache = stream.__dict__
    if "_schema_guard" not in cache:
        contract = str(stream.config.get("schema_contract") or DEFAULT_CONTRACT)
        maps = stream.stream_maps
        plain = len(maps) == 1 and type(maps[0]) is SameRecordTransform and not maps[0].flattening_enabled
        if contract != "discard_value" and not plain:
            stream.logger.warning(
                "stream '%s': stream maps or flattening change its schema: schema_contract %s does not "
                "apply, undeclared properties are dropped",
                stream.name,
                contract,
            )
        cache["_schema_guard"] = (
            SchemaGuard(stream, contract) if contract != "discard_value" and plain else None
        )
    return t.cast("SchemaGuard | None", cache["_schema_guard"])
