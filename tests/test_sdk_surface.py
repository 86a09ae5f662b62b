"""The kit's private singer-sdk surface is what tapkit/sdk_surface.py lists, and the installed SDK's
source of each listed name is the one the kit was written against (issue 11)."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from pathlib import Path

import pytest

from tapkit.sdk_surface import PRIVATE, TYPE_ONLY

KIT = Path(__file__).resolve().parents[1] / "tapkit" / "tapkit"


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


@pytest.mark.parametrize("qualified", sorted(PRIVATE))
def test_the_sdk_source_is_the_one_the_kit_was_written_against(qualified):
    target = resolve(qualified)
    source = inspect.getsource(target.fget if isinstance(target, property) else target)
    fingerprint, why = PRIVATE[qualified]
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == fingerprint, (
        f"singer-sdk's {qualified} changed: re-read it and the kit's use of it ({why}), "
        "then record the new fingerprint in tapkit/tapkit/sdk_surface.py"
    )


def test_the_kit_reaches_no_private_sdk_name_that_is_not_listed():
    listed = {name.rsplit(".", 1)[1] for name in PRIVATE} | {"_config"}
    used: set[str] = set()
    for path in KIT.glob("*.py"):
        text = path.read_text()
        used |= set(re.findall(r"super\(\)\.(_[a-z]\w*)", text))
        used |= set(re.findall(r"def (_[a-z]\w*)\(", text)) & SDK_PRIVATE
        used |= {m for m in re.findall(r"self\.(_[a-z]\w*)", text) if m in SDK_PRIVATE}
        for module in re.findall(r"from (singer_sdk[\w.]*) import", text):
            if "._" in module:
                assert module in TYPE_ONLY, f"{path.name} imports the private module {module}"
    assert used <= listed, f"private singer-sdk names used but not listed: {sorted(used - listed)}"


def _sdk_private_names() -> set[str]:
    from singer_sdk import Tap
    from singer_sdk.streams import RESTStream

    return {n for cls in (Tap, RESTStream) for n in dir(cls) if n.startswith("_") and not n.startswith("__")}


SDK_PRIVATE = _sdk_private_names()
