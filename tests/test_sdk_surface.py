"""Each kit's private singer-sdk surface is what its `sdk_surface.py` lists
(kits/tapkit/tapkit/sdk_surface.py, kits/loaderkit/loaderkit/sdk_surface.py), and the installed SDK's
source of each listed name is the one the kit was written against (issue 11). One module for both
kits, which fingerprint the SDK the same way; each kit scans its own code (the loader kit's with the
loaders built on it) for private names it does not list.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import loaderkit.sdk_surface as loader_surface
import tapkit.sdk_surface as tap_surface

ROOT = Path(__file__).resolve().parents[1]
KITS: dict[str, ModuleType] = {"tapkit": tap_surface, "loaderkit": loader_surface}


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
    target = resolve(qualified)
    return inspect.getsource(target.fget if isinstance(target, property) else target)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kit", "qualified"), [(kit, name) for kit, surface in KITS.items() for name in sorted(surface.PRIVATE)]
)
def test_the_sdk_source_is_the_one_the_kit_was_written_against(kit: str, qualified: str) -> None:
    fingerprint, why = KITS[kit].PRIVATE[qualified]
    assert hashlib.sha256(source_of(qualified).encode()).hexdigest()[:16] == fingerprint, (
        f"singer-sdk's {qualified} changed: re-read it and the kit's use of it ({why}), "
        f"then record the new fingerprint in {kit}/{kit}/sdk_surface.py"
    )


# tapkit: the kit alone, against the SDK classes a tap builds on.


def test_tapkit_reaches_no_private_sdk_name_that_is_not_listed() -> None:
    sdk_private = tap_sdk_private_names()
    listed = {name.rsplit(".", 1)[1] for name in tap_surface.PRIVATE} | {"_config"}
    used: set[str] = set()
    for path in (ROOT / "kits" / "tapkit" / "tapkit").glob("*.py"):
        text = path.read_text()
        used |= set(re.findall(r"super\(\)\.(_[a-z]\w*)", text))
        used |= set(re.findall(r"def (_[a-z]\w*)\(", text)) & sdk_private
        used |= {m for m in re.findall(r"self\.(_[a-z]\w*)", text) if m in sdk_private}
        for module in re.findall(r"from (singer_sdk[\w.]*) import", text):
            if "._" in module:
                assert module in tap_surface.TYPE_ONLY, f"{path.name} imports the private module {module}"
    assert used <= listed, f"private singer-sdk names used but not listed: {sorted(used - listed)}"


def tap_sdk_private_names() -> set[str]:
    from singer_sdk import Tap
    from singer_sdk.streams import RESTStream

    return {n for cls in (Tap, RESTStream) for n in dir(cls) if n.startswith("_") and not n.startswith("__")}


# loaderkit: the kit and the loaders built on it, against the SDK classes a target builds on.

LOADER_CODE = [
    ROOT / "kits" / "loaderkit" / "loaderkit",
    ROOT / "plugins" / "target-duckdb-bulk" / "target_duckdb_bulk",
    ROOT / "plugins" / "target-postgres-bulk" / "target_postgres_bulk",
]


@pytest.mark.parametrize("name", sorted(loader_surface.ATTRIBUTES))
def test_each_private_attribute_is_used_by_a_fingerprinted_function(name: str) -> None:
    function, _ = loader_surface.ATTRIBUTES[name]
    assert function in loader_surface.PRIVATE, f"{name}: {function} is not fingerprinted in PRIVATE"
    assert re.search(rf"\bself\.{name}\b", source_of(function)), (
        f"singer-sdk's {function} no longer reads self.{name}: the kit's use of it means nothing now"
    )


def test_loaderkit_reaches_no_private_sdk_name_that_is_not_listed() -> None:
    listed = {name.rsplit(".", 1)[1] for name in loader_surface.PRIVATE} | set(loader_surface.ATTRIBUTES)
    used: dict[str, str] = {}
    for directory in LOADER_CODE:
        for path in directory.glob("*.py"):
            text = path.read_text()
            names = set(re.findall(r"\.(_[A-Za-z]\w*)", text))
            names |= set(re.findall(r"def (_[A-Za-z]\w*)\(", text))
            for name in names & target_sdk_private_names():
                used.setdefault(name, path.name)
            for module in re.findall(r"from (singer_sdk[\w.]*) import", text):
                if "._" in module:
                    assert module in loader_surface.TYPE_ONLY, (
                        f"{path.name} imports the private module {module}"
                    )
    unlisted = {name: where for name, where in used.items() if name not in listed}
    assert not unlisted, f"private singer-sdk names used but not listed in sdk_surface.py: {unlisted}"


def target_sdk_private_names() -> set[str]:
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


def test_the_loaderkit_check_sees_what_it_must() -> None:
    """The scan above would notice the attributes the SDK sets in __init__ and the methods it defines."""
    found = target_sdk_private_names()
    assert {"_validator", "_pending_batch", "_sinks_active", "_latest_state", "_get_context"} <= found
