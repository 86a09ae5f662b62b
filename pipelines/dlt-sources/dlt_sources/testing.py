"""Test helpers for the dlt sources: extract in memory, run the runner for real, look for a key."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from dlt_sources import SOURCES

SANDBOX_KEY = "sandbox-key"
# The end of the one line a listing that shifted under the paginator stops with (dlt_sources._paging).
SHIFTED = (
    "the API's offsets do not count records (they count pages, or are ignored), or records moved while "
    "the listing was paged; stopped rather than skip records unseen (run the load again)"
)
FAST = 0.05  # backoff factor for tests: waits 0.05 s, 0.1 s, 0.2 s instead of 2 s, 4 s, 8 s


def extract_records(api: str, base_url: str, *resources: str, **kwargs: Any) -> dict[str, list[Any]]:
    """Run the source's resources in memory (no destination): the records per resource, in order."""
    kwargs.setdefault("backoff_factor", FAST)
    kwargs.setdefault("api_key", SANDBOX_KEY)
    source = SOURCES[api](base_url=base_url, **kwargs)
    if resources:
        source = source.with_resources(*resources)
    return {name: list(resource) for name, resource in source.selected_resources.items()}


def extract(api: str, base_url: str, *resources: str, **kwargs: Any) -> dict[str, list[Any]]:
    """The ids per resource, as ``extract_records`` gets them."""
    records = extract_records(api, base_url, *resources, **kwargs)
    return {name: [record["id"] for record in got] for name, got in records.items()}


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m dlt_sources ARGS`` as a user runs it, without the caller's SOURCES__/RUNTIME__ settings,
    in ``cwd`` (default: this process's working directory), where dlt looks for ``.dlt/``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "RUNTIME__"))}
    return subprocess.run(
        [sys.executable, "-m", "dlt_sources", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def key_pieces(text: str, key: str, size: int = 6) -> list[str]:
    """The ``size``-character pieces of ``key`` (stripped), raw or URL-encoded (either hex case),
    found in ``text``."""
    key = key.strip()
    quoted = quote(key, safe="")
    lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted)
    variants = {key, quoted, lower, quote_plus(key)}
    return sorted(
        {v[i : i + size] for v in variants for i in range(len(v) - size + 1) if v[i : i + size] in text}
    )
