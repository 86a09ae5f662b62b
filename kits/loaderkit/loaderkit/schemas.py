"""A SCHEMA message checked before singer-sdk or the kit reads it: a malformed one (a property that is not
an object, `properties` that is not an object, a `type` that names no JSON type, ...) ends the load with
one line naming the stream and what is wrong, instead of a traceback from deep inside either.

Only the shape is checked, the parts the SDK and `loaderkit.columns` read: the schema and each
(sub)property an object, `properties` an object of objects, `type` a JSON type name or a list of them,
`format` a string, `items` an object (or a list of them), `anyOf`/`oneOf`/`allOf` lists of objects, and
`key_properties` a list of strings.
"""

from __future__ import annotations

import json
from typing import Any

from loaderkit.errors import LoadError

JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_SHOWN_CHARS = 80


def short(value: Any) -> str:
    """A value as it reads in the SCHEMA message (JSON), cut to a readable length."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def check_schema_message(message: dict[str, Any], line: int) -> None:
    """Refuse a SCHEMA message whose schema or key properties the loader cannot read."""
    if "schema" not in message:
        return  # the SDK names the missing key
    stream = message.get("stream")
    problem = _schema_problem(message["schema"]) or _keys_problem(message.get("key_properties"))
    if problem:
        raise LoadError(f"stream {stream!r}: line {line}: malformed SCHEMA: {problem}")


def _schema_problem(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return f"the schema is {short(schema)}, not a JSON object"
    if "properties" not in schema:
        return "the schema has no 'properties'"
    return _properties_problem(schema["properties"], "")


def _keys_problem(keys: Any) -> str | None:
    if keys is None or (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        return None
    return f"key_properties is {short(keys)}, not a list of property names"


def _properties_problem(properties: Any, where: str) -> str | None:
    if not isinstance(properties, dict):
        return f"{where or 'the schema'}'s 'properties' is {short(properties)}, not an object"
    for name, prop in properties.items():
        problem = _property_problem(prop, f"property {where + '.' if where else ''}{name}")
        if problem:
            return problem
    return None


def _property_problem(prop: Any, where: str) -> str | None:
    """What is wrong with one property's schema (`where` names it: `property address.city`)."""
    if not isinstance(prop, dict):
        return f"{where} is {short(prop)}, not an object (a JSON schema)"
    declared = prop.get("type")
    names = declared if isinstance(declared, list) else [declared] if declared is not None else []
    if not all(isinstance(n, str) and n in JSON_TYPES for n in names):
        return f"{where}: 'type' is {short(declared)}, not a JSON type name or a list of them"
    if "format" in prop and not isinstance(prop["format"], str):
        return f"{where}: 'format' is {short(prop['format'])}, not a string"
    if "properties" in prop:
        problem = _properties_problem(prop["properties"], where.removeprefix("property "))
        if problem:
            return problem
    items = prop.get("items")
    if isinstance(items, list):  # (tuple validation, an older draft's form)
        branches = [(f"{where} items[{index}]", branch) for index, branch in enumerate(items)]
    else:
        branches = [(f"{where} items", items)] if items is not None else []
    for label, branch in branches:
        problem = _property_problem(branch, label)
        if problem:
            return problem
    for key in ("anyOf", "oneOf", "allOf"):
        if key not in prop:
            continue
        listed = prop[key]
        if not isinstance(listed, list):
            return f"{where}: '{key}' is {short(listed)}, not a list of schemas"
        for index, branch in enumerate(listed):
            problem = _property_problem(branch, f"{where} {key}[{index}]")
            if problem:
                return problem
    return None
