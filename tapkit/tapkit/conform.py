"""Type conformance compiled once per schema instead of walked per record.

Same result as singer-sdk's ``conform_record_data_types`` for values that come out of a JSON
parser: properties the schema does not declare are dropped (and reported, so the stream can warn
once), values of boolean-only properties become booleans (``value != 0``, as the SDK does), and
nested objects and arrays of objects are treated the same way, recursively. The schema is read
once; per record the work is a key-set comparison plus the few properties that need a change.
"""

from __future__ import annotations

import typing as t

# conform(value, unmapped, path) -> conformed value; unmapped collects dotted property paths
Conformer = t.Callable[[t.Any, list[str], str | None], t.Any]


def _types(schema: dict) -> list:
    if "anyOf" in schema:
        found: list = []
        for sub in schema["anyOf"]:
            found.extend(_types(sub) if isinstance(sub, dict) else [sub])
        return found
    kind = schema.get("type")
    return kind if isinstance(kind, list) else [kind]


def _is_exclusive_boolean(schema: dict) -> bool:
    kind = schema.get("type")
    if kind is None:
        return False
    kinds = set(kind) if isinstance(kind, list) else {kind}
    return kinds in ({"boolean"}, {"boolean", "null"})


def _to_boolean(value: t.Any, unmapped: list[str], path: str | None) -> t.Any:
    if value is None or value is True or value is False:
        return value
    return value != 0


def compile_conformer(schema: dict) -> Conformer | None:
    """A function that conforms values of ``schema``; None when values pass through unchanged."""
    if "object" in _types(schema) and "properties" in schema:
        return _compile_object(schema)
    if "array" in _types(schema) and isinstance(schema.get("items"), dict) and "prefixItems" not in schema:
        return _compile_list(schema["items"])
    if _is_exclusive_boolean(schema):
        return _to_boolean
    return None


def _compile_list(item_schema: dict) -> Conformer | None:
    conform_item = compile_conformer(item_schema)
    if conform_item is None:
        return None
    is_object = "object" in _types(item_schema) and "properties" in item_schema

    def conform_list(value: t.Any, unmapped: list[str], path: str | None) -> t.Any:
        if not isinstance(value, list):
            return value
        if is_object:
            return [conform_item(v, unmapped, path) if isinstance(v, dict) else v for v in value]
        return [conform_item(v, unmapped, path) for v in value]

    return conform_list


def _compile_object(schema: dict) -> Conformer:
    properties: dict[str, dict] = schema["properties"]
    declared = frozenset(properties)
    keep_extra = bool(schema.get("additionalProperties"))
    special = [(name, fn) for name, sub in properties.items() if (fn := compile_conformer(sub)) is not None]

    def conform_object(value: t.Any, unmapped: list[str], path: str | None) -> t.Any:
        if not isinstance(value, dict):
            return value
        if not keep_extra and not value.keys() <= declared:
            unmapped.extend(k if path is None else f"{path}.{k}" for k in value if k not in declared)
            value = {k: v for k, v in value.items() if k in declared}
        for name, fn in special:
            if name in value:
                value[name] = fn(value[name], unmapped, name if path is None else f"{path}.{name}")
        return value

    return conform_object
