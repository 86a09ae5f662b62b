"""A cheap per-page check: does a page of records fit a schema (no key it does not declare, at any depth, no
value of another type)? One C-level pass per property over the page: the price of a sync that does not
drift. Only a page that does not fit goes record by record (:mod:`tapkit.contract`)."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, repeat
from operator import itemgetter

from tapkit.drift import JSON_CLASSES, Schema, types_of


class _Absent:
    """The value of a property an object does not have, in a page's column (a null is a value)."""


_ABSENT = _Absent()


def _classes(types: list[str]) -> frozenset[type]:
    # None only where the schema allows null: the SCHEMA before a record must validate it
    return frozenset({_Absent, *(c for kind in types for c in JSON_CLASSES.get(kind, ()))})


@dataclass(frozen=True)
class _Node:
    """A schema read once for :class:`PageChecker`: what a value of it may be."""

    classes: frozenset[type] | None  # None: anything
    declared: frozenset[str] | None  # an object's keys (None: not an object schema, or open)
    properties: tuple[tuple[str, _Node], ...] = ()  # the ones with a type to check
    items: _Node | None = None
    # every checked property's value of an object in one C call: itemgetter(*names) (a 1-tuple for one)
    row: t.Callable[..., tuple] | None = None

    @classmethod
    def of(cls, schema: t.Any) -> _Node:
        if not isinstance(schema, dict) or not types_of(schema):
            return cls(None, None)
        types = types_of(schema)
        props = schema.get("properties") if "object" in types else None
        items = schema.get("items") if "array" in types else None
        checked = tuple((k, n) for k, v in (props or {}).items() if (n := cls.of(v)).classes is not None)
        names = [k for k, _ in checked]
        row: t.Callable[..., tuple] | None = None
        if len(names) == 1:
            row = lambda obj, get=itemgetter(names[0]): (get(obj),)  # noqa: E731
        elif names:
            row = itemgetter(*names)
        return cls(
            _classes(types),
            frozenset(props) if isinstance(props, dict) and not schema.get("additionalProperties") else None,
            checked,
            cls.of(items) if isinstance(items, dict) else None,
            row,
        )

    def fits(self, values: t.Sequence[t.Any]) -> bool:
        """Every value fits: one C-level pass per property over the page's column (map, set, zip)."""
        if self.classes is None:
            return True
        classes = set(map(type, values))
        if not classes <= self.classes:
            return False
        if dict in classes and (self.declared is not None or self.properties):
            objects = values if len(classes) == 1 else [v for v in values if v.__class__ is dict]
            columns, whole = self._columns(objects)
            if self.declared is not None and not (
                # every object holds every checked property: one that holds no other has their number
                set(map(len, objects)) == self._whole_length
                if whole and self._complete
                else all(map(self.declared.issuperset, objects))
            ):
                return False
            if not all(node.fits(column) for column, node in zip(columns, self._nodes, strict=True)):
                return False
        if list in classes and self.items is not None and self.items.classes is not None:
            lists = values if len(classes) == 1 else [v for v in values if v.__class__ is list]
            items = list(chain.from_iterable(lists))
            if not self.items.fits(items):
                return False
        return True

    @cached_property
    def _nodes(self) -> list[_Node]:
        return [node for _, node in self.properties]

    @cached_property
    def _complete(self) -> bool:
        """Every declared property is a checked one (has a type), so ``row`` reads them all."""
        return self.declared is not None and len(self.declared) == len(self.properties)

    @cached_property
    def _whole_length(self) -> set[int]:
        return {len(self.properties)}

    def _columns(self, objects: t.Sequence[dict]) -> tuple[t.Iterable[t.Sequence[t.Any]], bool]:
        """The values of each checked property, a column per property, absent ones as ``_ABSENT``; and
        whether every object holds every checked property."""
        if not self.properties:
            return (), False
        assert self.row is not None
        try:
            rows = list(map(self.row, objects))  # every object has every property: the usual page
        except KeyError:
            n = len(objects)
            present = set(chain.from_iterable(objects))
            columns = [
                list(map(dict.get, objects, repeat(name, n), repeat(_ABSENT, n))) if name in present else ()
                for name, _ in self.properties
            ]
            return columns, False
        if not rows:
            return [()] * len(self.properties), True
        return list(zip(*rows, strict=True)), True


class PageChecker:
    """``checker(records) -> True`` when every record of the page fits the schema (no key the schema does
    not declare, at any depth; no value of another type; a null only where the type allows it). Per
    property one C-level pass over the page's column; no inference, no per-record Python for a page that
    fits."""

    def __init__(self, schema: Schema) -> None:
        self._root = _Node.of({**schema, "type": ["object"]})

    def __call__(self, records: list[dict]) -> bool:
        return self._root.fits(records)
