"""Type conformance compiled once per schema instead of walked per record.

Same result as singer-sdk's ``conform_record_data_types`` for values that come out of a JSON
parser: properties the schema does not declare are dropped (and reported, so the stream can warn
once), values of boolean-only properties become booleans (``value != 0``, as the SDK does), and
nested objects and arrays of objects get the same treatment, recursively. The schema is read
once and turned into straight-line Python source for that schema; per record the work is a
key-set comparison plus the few properties that may need a change.
"""

from __future__ import annotations

import typing as t

# conform(record, unmapped, path) -> the conformed record; unmapped collects dotted property paths
Conformer = t.Callable[[t.Any, list[str], str | None], t.Any]


def _types(schema: dict) -> list:
    if "anyOf" in schema:
        found: list = []
        for sub in schema["anyOf"]:
            found.extend(_types(sub) if isinstance(sub, dict) else [sub])
        return found
    kind = schema.get("type")
    return kind if isinstance(kind, list) else [kind]


def _is_object(schema: dict) -> bool:
    return "object" in _types(schema) and "properties" in schema


def _is_list(schema: dict) -> bool:
    return "array" in _types(schema) and isinstance(schema.get("items"), dict) and "prefixItems" not in schema


def _is_exclusive_boolean(schema: dict) -> bool:
    kind = schema.get("type")
    if kind is None:
        return False
    kinds = set(kind) if isinstance(kind, list) else {kind}
    return kinds in ({"boolean"}, {"boolean", "null"})


def _needs_work(schema: dict) -> bool:
    if _is_object(schema):
        return True
    if _is_list(schema):
        return _needs_work(schema["items"])
    return _is_exclusive_boolean(schema)


def _drop(value: dict, declared: frozenset[str], unmapped: list[str], path: str | None) -> dict:
    unmapped.extend(k if path is None else f"{path}.{k}" for k in value if k not in declared)
    return {k: v for k, v in value.items() if k in declared}


class _Source:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, t.Any] = {"_drop": _drop}
        self._count = 0

    def name(self, prefix: str, value: t.Any = None) -> str:
        self._count += 1
        name = f"_{prefix}{self._count}"
        if value is not None:
            self.names[name] = value
        return name


def _path(parent: str, name: str) -> str:
    """Source for the dotted path of property ``name`` under the path expression ``parent``."""
    return f"({name!r} if {parent} is None else {parent} + {'.' + name!r})"


def _emit_object(src: _Source, var: str, schema: dict, path: str, indent: str) -> None:
    if not schema.get("additionalProperties"):
        declared = src.name("declared", frozenset(schema["properties"]))
        src.lines.append(f"{indent}if not {var}.keys() <= {declared}:")
        src.lines.append(f"{indent}    {var} = _drop({var}, {declared}, unmapped, {path})")
    for name, sub in schema["properties"].items():
        if not _needs_work(sub):
            continue
        value = src.name("v")
        src.lines.append(f"{indent}{value} = {var}.get({name!r})")
        if _is_exclusive_boolean(sub):
            src.lines.append(f"{indent}if {value} is not None and {value}.__class__ is not bool:")
            src.lines.append(f"{indent}    {var}[{name!r}] = {value} != 0")
        elif _is_object(sub):
            src.lines.append(f"{indent}if {value}.__class__ is dict:")
            _emit_object(src, value, sub, _path(path, name), indent + "    ")
            src.lines.append(f"{indent}    {var}[{name!r}] = {value}")
        elif _is_list(sub):
            items = sub["items"]
            src.lines.append(f"{indent}if {value}.__class__ is list:")
            if _is_exclusive_boolean(items):
                expr = "_x if _x is None or _x.__class__ is bool else _x != 0"
            else:
                item = src.name("item", compile_conformer(items))
                item_path = src.name("path")
                src.lines.append(f"{indent}    {item_path} = {_path(path, name)}")
                expr = f"{item}(_x, unmapped, {item_path}) if _x.__class__ is dict else _x"
            src.lines.append(f"{indent}    {var}[{name!r}] = [{expr} for _x in {value}]")


def compile_conformer(schema: dict) -> Conformer | None:
    """A function that conforms values of ``schema``; None when values pass through unchanged."""
    if _is_object(schema):
        src = _Source()
        src.lines.append("def conform(record, unmapped, path):")
        src.lines.append("    if record.__class__ is not dict:")
        src.lines.append("        return record")
        _emit_object(src, "record", schema, "path", "    ")
        src.lines.append("    return record")
        namespace = dict(src.names)
        exec(compile("\n".join(src.lines), "<tapkit conformer>", "exec"), namespace)
        return t.cast("Conformer", namespace["conform"])
    if _is_list(schema) and _needs_work(schema["items"]):
        conform_item = compile_conformer(schema["items"])
        assert conform_item is not None
        return lambda value, unmapped, path: (
            [conform_item(v, unmapped, path) for v in value] if isinstance(value, list) else value
        )
    if _is_exclusive_boolean(schema):
        return lambda value, unmapped, path: value if value is None or value.__class__ is bool else value != 0
    return None
