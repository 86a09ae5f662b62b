"""Failures that tell the truth (issue 24 item 7), on real DuckDB and PostgreSQL: a malformed SCHEMA and a
full spool disk end with one line naming the stream and what is wrong, exit 1, no traceback.

The full disk is a 1 MB tmpfs mounted for the test as the loader's temporary directory (TMPDIR, where
its spool directory goes); the test is skipped, saying why, where mounting is refused.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bulk import PLAIN_PROPS, Loader, lines, only_error, output, record, schema, state


@pytest.fixture(params=["duckdb", "postgres"])
def loader(request: pytest.FixtureRequest, tmp_path: Path) -> Loader:
    dsn = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    return Loader(request.param, tmp_path, dsn)


def test_a_schema_whose_property_is_not_an_object_ends_on_one_line(loader: Loader) -> None:
    bad = {"type": "SCHEMA", "stream": "items", "schema": {"properties": {"id": {}, "x": 5}}}
    result = loader.run([bad, record("items", id=1), state(done=1)])
    line = only_error(result, loader)
    assert "stream 'items': line 1: malformed SCHEMA: property x is 5, not an object" in line, line
    assert '"done"' not in result.stdout, output(result)


def test_a_property_with_an_empty_name_ends_on_one_line(loader: Loader) -> None:
    props = {**PLAIN_PROPS, "": {"type": ["string", "null"]}}
    result = loader.run([schema("items", props), record("items", id=1, **{"": "x"}), state(done=1)])
    line = only_error(result, loader)
    assert "stream 'items': a property of the stream's schema has an empty name ('')" in line, line
    assert '"done"' not in result.stdout, output(result)


@pytest.fixture
def full_tmpdir(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs, mounted for this test only."""
    mount = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1M,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a 1 MB tmpfs was refused (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# The SDK path's spool writes (validate_records) are the kit's, the same for both loaders: DuckDB shows them.
@pytest.mark.parametrize(
    ("kind", "validate"),
    [("duckdb", False), ("duckdb", True), ("postgres", False)],
    ids=["duckdb-fast-path", "duckdb-sdk-path", "postgres-fast-path"],
)
def test_a_full_spool_disk_ends_on_one_line(
    request: pytest.FixtureRequest, tmp_path: Path, full_tmpdir: Path, kind: str, validate: bool
) -> None:
    loader = Loader(kind, tmp_path, request.getfixturevalue("pg_database") if kind == "postgres" else None)
    padding = "x" * 200
    messages: list[dict[str, Any] | str] = [
        schema("items", PLAIN_PROPS),
        *(record("items", id=i, name=padding) for i in range(8000)),  # about 2 MB: twice the disk
        state(done=1),
    ]
    result = subprocess.run(
        loader.command(validate_records=validate),
        input=lines(messages),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TMPDIR": str(full_tmpdir)},
        check=False,
    )
    line = only_error(result, loader)
    assert "stream 'items': writing a spool file in " + str(full_tmpdir) in line, line
    assert "No space left on device" in line and "were not loaded" in line, line
    assert '"done"' not in result.stdout, output(result)
    assert list(full_tmpdir.iterdir()) == [], "the spool directory stayed behind"
