"""The demo's catalog cache (dev/scripts/catalog_cache.py): one discovery per version of the tap's code, a
new one after an edit, the file private."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "dev" / "scripts"))

import catalog_cache  # noqa: E402


def _tree(root: Path) -> None:
    for rel in ("kits/keyguard/k.py", "kits/tapkit/t.py", "plugins/tap-crm/tap_crm/schemas/tasks.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("{}\n")


def _fake_tap(path: Path, log: Path) -> Path:
    path.write_text(f'#!/bin/sh\necho run >> {log}\necho \'{{"streams": [{{"tap_stream_id": "tasks"}}]}}\'\n')
    path.chmod(0o700)
    return path


def test_discovers_once_per_version_of_the_code(tmp_path: Path, monkeypatch: Any) -> None:
    repo, cache, log = tmp_path / "repo", tmp_path / "cache", tmp_path / "runs.log"
    _tree(repo)
    monkeypatch.setattr(catalog_cache, "REPO", repo)
    tap = _fake_tap(tmp_path / "tap-crm", log)
    first = catalog_cache.cached_catalog("crm", tap, "http://127.0.0.1:1", cache)
    again = catalog_cache.cached_catalog("crm", tap, "http://127.0.0.1:1", cache)
    assert first is not None and first == again
    assert log.read_text().count("run") == 1, "discovered again with the code unchanged"
    assert first.stat().st_mode & 0o777 == 0o600
    (repo / "plugins/tap-crm/tap_crm/schemas/tasks.json").write_text('{"type": "object"}\n')
    edited = catalog_cache.cached_catalog("crm", tap, "http://127.0.0.1:1", cache)
    assert edited is not None and edited != first, "a schema edit must give a new catalog"
    assert log.read_text().count("run") == 2
    assert not first.exists(), "the catalog of code that is gone stays behind"


def test_failed_discovery_leaves_it_to_meltano(tmp_path: Path, monkeypatch: Any) -> None:
    repo = tmp_path / "repo"
    _tree(repo)
    monkeypatch.setattr(catalog_cache, "REPO", repo)
    tap = tmp_path / "tap-crm"
    tap.write_text("#!/bin/sh\nexit 1\n")
    tap.chmod(0o700)
    assert catalog_cache.cached_catalog("crm", tap, "http://127.0.0.1:1", tmp_path / "cache") is None
