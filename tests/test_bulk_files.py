"""Private files (issue 25), on real DuckDB and PostgreSQL: what the loaders write to disk is for their
owner alone, and nothing is left behind.

- The spool directory is 0700 and its files 0600, the DuckDB file 0600 in a folder the loader made 0700,
  even when the loader is started with umask 000; the spool directory is gone after the run.
- The files of a tap's BATCH messages are removed once their load is committed, and when it fails;
  `batch_files_keep: true` keeps them.
"""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from bulk import PLAIN_PROPS, Loader, lines, only_error, output, record, schema, state


@pytest.fixture(params=["duckdb", "postgres"])
def loader(request: pytest.FixtureRequest, tmp_path: Path) -> Loader:
    dsn = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    return Loader(request.param, tmp_path, dsn)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def spool_files(tmpdir: Path) -> list[Path]:
    return [f for d in tmpdir.glob("*-spool-*") for f in d.iterdir()]


def test_spools_and_the_duckdb_file_are_private_whatever_the_umask(loader: Loader, tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    settings: dict[str, Any] = {}
    if loader.kind == "duckdb":
        settings["filepath"] = str(tmp_path / "made" / "by-the-loader" / "warehouse.duckdb")
    process = subprocess.Popen(
        loader.command(**settings),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        umask=0,
        env={**os.environ, "TMPDIR": str(tmpdir)},
    )
    assert process.stdin is not None
    try:
        process.stdin.write(
            lines([schema("items", PLAIN_PROPS), *(record("items", id=i) for i in range(50))])
        )
        process.stdin.flush()
        # The records wait in their spool (the batch is not full, the input still open): look at it.
        deadline = time.monotonic() + 60
        while not spool_files(tmpdir) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        files = spool_files(tmpdir)
        assert files, "no spool file appeared while the records waited"
        assert {mode(f.parent) for f in files} == {0o700}
        assert {mode(f) for f in files} == {0o600}
        stdout, stderr = process.communicate(lines([state(done=1)]), timeout=120)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, stderr[-3000:]
    assert '"done"' in stdout
    assert list(tmpdir.iterdir()) == [], "the spool directory stayed behind"
    if loader.kind == "duckdb":
        database = Path(settings["filepath"])
        assert mode(database) == 0o600
        assert mode(database.parent) == mode(database.parent.parent) == 0o700


def batch_message(folder: Path, *parts: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Path]]:
    """A tap's BATCH message over gzip JSONL files in `folder`, and the files."""
    paths = []
    for index, records in enumerate(parts):
        path = folder / f"items-{index}.jsonl.gz"
        with gzip.open(path, "wt") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
        paths.append(path)
    message = {
        "type": "BATCH",
        "stream": "items",
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "manifest": [p.as_uri() for p in paths],
    }
    return message, paths


PROPS = {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}


@pytest.mark.parametrize("keep", [False, True], ids=["removed", "kept"])
def test_batch_files_are_removed_once_loaded_unless_kept(loader: Loader, tmp_path: Path, keep: bool) -> None:
    folder = tmp_path / "batches"
    folder.mkdir()
    batch, paths = batch_message(folder, [{"id": 1, "name": "a"}], [{"id": 2, "name": "b"}])
    result = loader.run([schema("items", PROPS), batch, state(done=1)], batch_files_keep=keep)
    assert result.returncode == 0, output(result)
    assert loader.ids("items") == [1, 2]
    assert [p.exists() for p in paths] == [keep, keep]


def test_batch_files_are_removed_when_their_load_fails(loader: Loader, tmp_path: Path) -> None:
    folder = tmp_path / "batches"
    folder.mkdir()
    good, _ = batch_message(folder, [{"id": 1, "name": "a"}])
    (folder / "items-0.jsonl.gz").rename(folder / "good.jsonl.gz")
    good["manifest"] = [(folder / "good.jsonl.gz").as_uri()]
    bad, _ = batch_message(folder, [{"id": 2, "name": "b"}, {"id": None, "name": "no key"}])
    result = loader.run([schema("items", PROPS), good, bad, state(done=1)])
    line = only_error(result, loader)
    assert "no value for key property 'id'" in line, line
    assert list(folder.iterdir()) == [], "a BATCH file stayed behind"
