"""A page read straight into the schema's types, for a page that goes out as the bytes it came in.

When the fast path writes a page's records as sent (``tapkit.fastpath``), it needs of each record only
its bytes, its key and, for a few, its content (the overlap check's digest): not a dict of it. msgspec
decodes each record's bytes into a ``Struct`` made from the stream's schema and checks it on the way,
at C speed: a property the schema does not declare, a value of another type, a null where none is
allowed, a key missing, and the decode fails. A page that fails is read again the usual way (dicts,
the page check of ``tapkit.pagecheck``, the contract of ``tapkit.contract``), so this path only ever
accepts a page the page check would pass; it never decides anything the other path would not.

It costs a third of decoding the page to dicts and checking it (bench 1b). A schema it cannot express
(an ``anyOf``, an object that allows other properties beside typed ones, a type JSON Schema does not
name) has no typed decoder: its pages take the usual way.
"""

from __future__ import annotations

import typing as t

import msgspec

from tapkit.drift import types_of

if t.TYPE_CHECKING:
    from tapkit.drift import Schema


class TypedRecord(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A record decoded into its schema's types. ``record[name]`` reads a property by its JSON name (the
    paginator's key functions use it); ``as_builtins`` gives it as the dict a plain decode gives (floats
    as float: the digest reads numbers as floats either way)."""

    _attrs = t.cast("dict[str, str]", {})  # JSON name -> field (msgspec reads no ClassVar written as text)

    def __getitem__(self, name: str) -> t.Any:
        value = getattr(self, self._attrs[name], msgspec.UNSET)
        if value is msgspec.UNSET:
            raise KeyError(name)
        return value

    def as_builtins(self) -> dict[str, t.Any]:
        return t.cast("dict[str, t.Any]", msgspec.to_builtins(self))


class _Nested(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    pass


class _Unsupported(Exception):
    """The schema says something a msgspec type cannot."""


def _object(schema: Schema, required: t.Sequence[str], base: type[msgspec.Struct]) -> t.Any:
    props = schema.get("properties")
    if not isinstance(props, dict):
        return dict  # any object, its values unchecked (the page check reads them the same way)
    if schema.get("additionalProperties"):
        if any(map(types_of, map(_as_schema, props.values()))):
            raise _Unsupported  # typed properties among others allowed: unknown keys would be skipped
        return dict
    if any(name not in props for name in required):
        raise _Unsupported  # a key the schema does not declare: every record would fail
    fields: list[tuple[str, t.Any] | tuple[str, t.Any, t.Any]] = []
    rename: dict[str, str] = {}
    attrs: dict[str, str] = {}
    for i, (name, sub) in enumerate(props.items()):
        attr = f"f{i}"
        rename[attr], attrs[name] = name, attr
        kind = _type_of(sub)
        fields.append((attr, kind) if name in required else (attr, kind | msgspec.UnsetType, msgspec.UNSET))
    return msgspec.defstruct(
        "Record", fields, bases=(base,), rename=rename, namespace={"_attrs": attrs}, kw_only=True
    )


def _as_schema(value: t.Any) -> Schema:
    return value if isinstance(value, dict) else {}


def _type_of(schema: t.Any) -> t.Any:
    """The msgspec type that accepts what the page check accepts for ``schema`` (``JSON_CLASSES``)."""
    if not isinstance(schema, dict) or not types_of(schema):
        return t.Any
    if "anyOf" in schema:
        raise _Unsupported
    parts: list[t.Any] = []
    for kind in dict.fromkeys(types_of(schema)):
        if kind == "string":
            parts.append(str)
        elif kind == "integer":
            parts.append(int)
        elif kind == "number":
            parts += [int, float]  # an integer stays an int (the digest reads 5 and 5.0 apart)
        elif kind == "boolean":
            parts.append(bool)
        elif kind == "null":
            parts.append(None)
        elif kind == "object":
            parts.append(_object(schema, (), _Nested))
        elif kind == "array":
            items = schema.get("items")
            parts.append(list.__class_getitem__(_type_of(items)) if isinstance(items, dict) else list)
        else:
            raise _Unsupported
    return t.Union.__getitem__(tuple(dict.fromkeys(parts)))  # a union made at run time


class TypedPages:
    """Reads a page's records into the schema's types, with the bytes each came in, or says it cannot."""

    def __init__(self, record: type[TypedRecord], selector: str) -> None:
        self._record = msgspec.json.Decoder(record)
        page = msgspec.defstruct("RawPage", [("records", list[msgspec.Raw])], rename={"records": selector})
        self._page = msgspec.json.Decoder(page)

    @classmethod
    def of(cls, schema: Schema, selector: str, primary_keys: t.Sequence[str]) -> TypedPages | None:
        """The reader for ``schema``, or None where the schema needs the usual way."""
        try:
            record = _object({**schema, "type": ["object"]}, primary_keys, TypedRecord)
            if not (isinstance(record, type) and issubclass(record, TypedRecord)):
                return None
            return cls(record, selector)
        except (_Unsupported, TypeError, ValueError):  # a union msgspec does not take, a name it refuses
            return None

    def read(self, content: bytes) -> tuple[list[TypedRecord], list[bytes]] | None:
        """The records under the selector of a plain JSON body and their bytes; None when any record
        does not fit the schema, the body is not as expected, or a record's bytes could not stand as a
        line of its own (the body has line breaks between its tokens)."""
        if b"\n" in content or b"\r" in content:
            return None
        try:
            raw: list[msgspec.Raw] = getattr(self._page.decode(content), "records")  # noqa: B009
            records = list(map(self._record.decode, raw))
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        return records, list(map(bytes, raw))


def typed(records: t.Sequence[t.Any]) -> bool:
    """The page was read by ``TypedPages``: it fits the schema it was read for (pages are read whole by
    one reader, so the first record tells)."""
    return bool(records) and isinstance(records[0], TypedRecord)
