"""The loader kit's private singer-sdk surface is what loaderkit/sdk_surface.py lists, and the installed SDK's
source of each listed name is the one the kit was written against."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from pathlib import Path

import pytest

from loaderkit.sdk_surface import ATTRIBUTES, PRIVATE, TYPE_ONLY

ROOT = Path(__file__).resolve().parents[2]
# The kit and the loaders built on it.
CODE = [
    ROOT / "loaderkit" / "loaderkit",
    ROOT / "target-duckdb-bulk" / "target_duckdb_bulk",
    ROOT / "target-postgres-bulk" / "target_postgres_bulk",
]


def resolve(qualified: str) -> object:
    parts = qualified.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        return target
    raise LookupError(qualified)


def source_of(qualified: str) -> str:
    return inspect.getsource(resolve(qualified))  # type: ignore[arg-type]


@pytest.mark.parametrize("qualified", sorted(PRIVATE))
def test_the_sdk_source_is_the_one_the_kit_was_written_against(qualified: str) -> None:
    fingerprint, why = PRIVATE[qualified]
    assert hashlib.sha256(source_of(qualified).encode()).hexdigest()[:16] == fingerprint, (
        f"singer-sdk's {qualified} changed: re-read it and the kit's use of it ({why}), "
        "then record the new fingerprint in loaderkit/loaderkit/sdk_surface.py"
    )


@pytest.mark.parametrize("name", sorted(ATTRIBUTES))
def test_each_private_attribute_is_used_by_a_fingerprinted_function(name: str) -> None:
    function, _ = ATTRIBUTES[name]
    assert function in PRIVATE, f"{name}: {function} is not fingerprinted in PRIVATE"
    assert re.search(rf"\bself\.{name}\b", source_of(function)), (
        f"singer-sdk's {function} no longer reads self.{name}: the kit's use of it means nothing now"
    )


def test_the_kit_reaches_no_private_sdk_name_that_is_not_listed() -> None:
    listed = {name.rsplit(".", 1)[1] for name in PRIVATE} | set(ATTRIBUTES)
    used: dict[str, str] = {}
    for directory in CODE:
        for path in directory.glob("*.py"):
            text = path.read_text()
            names = set(re.findall(r"\.(_[A-Za-z]\w*)", text))
            names |= set(re.findall(r"def (_[A-Za-z]\w*)\(", text))
            for name in names & sdk_private_names():
                used.setdefault(name, path.name)
            for module in re.findall(r"from (singer_sdk[\w.]*) import", text):
                if "._" in module:
                    assert module in TYPE_ONLY, f"{path.name} imports the private module {module}"
    unlisted = {name: where for name, where in used.items() if name not in listed}
    assert not unlisted, f"private singer-sdk names used but not listed in sdk_surface.py: {unlisted}"


def sdk_private_names() -> set[str]:
    """Private names of the SDK classes the kit builds on: members, and attributes their code sets."""
    from singer_sdk import Target
    from singer_sdk.plugin_base import PluginBase
    from singer_sdk.singerlib.encoding import GenericSingerReader
    from singer_sdk.sinks import BatchSink, Sink

    classes = (Target, PluginBase, Sink, BatchSink, GenericSingerReader)
    names = {n for cls in classes for n in dir(cls) if n.startswith("_") and not n.startswith("__")}
    for cls in classes:
        for klass in cls.__mro__:
            if klass.__module__.startswith("singer_sdk"):
                names |= set(re.findall(r"self\.(_[A-Za-z]\w*)\s*(?::[^=\n]*)?=", inspect.getsource(klass)))
    return names


def test_the_check_sees_what_it_must() -> None:
    """The scan above would notice the attributes the SDK sets in __init__ and the methods it defines."""
    found = sdk_private_names()
    assert {"_validator", "_pending_batch", "_sinks_active", "_latest_state", "_get_context"} <= found
