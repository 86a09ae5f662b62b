"""A tap's discovered catalog for the project's own `meltano run`s (`make demo`), cached by the tap's
source, so Meltano does not run `--discover` before every run.

Meltano caches a discovered catalog only for non-editable installs (its cache key is the tap's config,
not its code); our taps are editable installs, so every `meltano run` first runs the tap's `--discover`
(0.5-0.8 s). Here the catalog is discovered once per version of the code that makes it: the key is a hash
of every file of the tap, tapkit and keyguard packages, so an edit to a schema or a stream takes effect
on the next run. The file goes to Meltano's `catalog` extra (`TAP_CRM__CATALOG`); Meltano still applies
the project's `select` and `metadata` rules to it. Not for `schema_sample_records` (its discovery reads
the API): with that setting, let Meltano discover.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("kits/keyguard", "kits/tapkit", "plugins/tap-{api}")


def source_key(api: str) -> str:
    h = hashlib.sha256()
    for root in SOURCES:
        base = REPO / root.format(api=api)
        for path in sorted(base.rglob("*")):
            if (
                path.is_file()
                and "__pycache__" not in path.parts
                and path.suffix in {".py", ".json", ".toml"}
            ):
                h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def cached_catalog(api: str, tap_executable: Path, base_url: str, cache_dir: Path) -> Path | None:
    """The catalog of `tap-<api>` for the code as it is now: from `cache_dir`, else discovered (and
    kept, 0600); None when discovery fails (Meltano then discovers as usual)."""
    path = cache_dir / f"tap-{api}-{source_key(api)}.json"
    if path.is_file():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for old in cache_dir.glob(f"tap-{api}-*.json"):
        old.unlink(missing_ok=True)  # the catalogs of code that is gone
    config = cache_dir / f".tap-{api}.config.json"
    config.write_text(json.dumps({"api_key": "sandbox-key", "base_url": base_url}))
    try:
        found = subprocess.run(
            [str(tap_executable), "--config", str(config), "--discover"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        config.unlink(missing_ok=True)
    try:
        catalog = json.loads(found.stdout) if found.returncode == 0 else None
    except ValueError:
        catalog = None
    if not isinstance(catalog, dict) or not catalog.get("streams"):
        return None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(catalog, f)
    return path
