"""Building and running the pipelines: used by the runner, the demo script and the tests."""

from __future__ import annotations

import logging
import os
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt

from dlt_sources import SOURCES

DEFAULT_OUTPUT = Path("output")


def _drop_null_column_notes(record: logging.LogRecord) -> bool:
    return "did not receive any data during this load" not in record.getMessage()


def hide_null_column_notes() -> None:
    """dlt warns at length, per table, about columns that held only nulls in a load (it cannot infer
    their type yet). A nullable object that is sometimes set is flattened into ``parent__child``
    columns and leaves the bare ``parent`` column always null, so every load of the sample data warns.
    Noise in a progress report; everything else dlt logs still shows."""
    dlt_logger = logging.getLogger("dlt")
    if _drop_null_column_notes not in dlt_logger.filters:
        dlt_logger.addFilter(_drop_null_column_notes)


def default_duckdb_file(api: str) -> Path:
    return DEFAULT_OUTPUT / f"dlt_{api}.duckdb"


def make_pipeline(
    api: str,
    *,
    destination: str = "duckdb",
    duckdb_file: Path | None = None,
    dataset: str | None = None,
    pipeline_name: str | None = None,
    pipelines_dir: Path | None = None,
) -> dlt.Pipeline:
    """A pipeline loading ``api`` into DuckDB (``output/dlt_<api>.duckdb`` by default) or PostgreSQL
    (credentials from dlt's config: ``DESTINATION__POSTGRES__CREDENTIALS`` or secrets.toml)."""
    if destination == "duckdb":
        path = duckdb_file or default_duckdb_file(api)
        path.parent.mkdir(parents=True, exist_ok=True)
        dest: Any = dlt.destinations.duckdb(credentials=str(path))
    elif destination == "postgres":
        dest = dlt.destinations.postgres()
    else:
        raise ValueError(f"unknown destination {destination!r}: duckdb or postgres")
    return dlt.pipeline(
        pipeline_name=pipeline_name or f"dlt_{api}",
        pipelines_dir=str(pipelines_dir or DEFAULT_OUTPUT / "dlt_pipelines"),
        destination=dest,
        dataset_name=dataset or api,
    )


@dataclass
class LoadResult:
    pipeline: dlt.Pipeline
    rows_loaded: dict[str, int]  # rows per table in this run (child tables included)
    seconds: dict[str, float] = field(default_factory=dict)  # extract, normalize, load

    def table_counts(self) -> dict[str, int]:
        """Rows per table now in the dataset."""
        tables = sorted(str(t["name"]) for t in self.pipeline.default_schema.data_tables())
        counts: dict[str, int] = {}
        with self.pipeline.sql_client() as client:
            for table in tables:
                rows = client.execute_sql(f"SELECT count(*) FROM {client.make_qualified_table_name(table)}")
                counts[table] = int(rows[0][0]) if rows else 0
        return counts


@contextmanager
def _completed_jobs_deleted(delete: bool) -> Iterator[None]:
    """dlt's ``load.delete_completed_jobs`` for one load: the files of a completed load package (every
    record loaded) are deleted once in the destination; the package's schema and state stay, so
    ``dlt pipeline ... info`` still lists it. A package with a failed job is kept whole either way."""
    name = "LOAD__DELETE_COMPLETED_JOBS"
    before = os.environ.get(name)
    os.environ[name] = "true" if delete else "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def info_command(pipeline: dlt.Pipeline) -> str:
    """The `dlt pipeline` command that finds this pipeline (it is not under dlt's default directory)."""
    where = shlex.quote(str(Path(pipeline.pipelines_dir).resolve()))
    return f"dlt pipeline --pipelines-dir {where} {shlex.quote(pipeline.pipeline_name)} info"


def load(
    api: str,
    pipeline: dlt.Pipeline,
    *,
    progress: Callable[[str], None] | None = None,
    keep_load_packages: bool = False,
    **source_kwargs: Any,
) -> LoadResult:
    """Extract, normalize and load ``api`` with ``pipeline``; ``source_kwargs`` go to the source
    (api_key, base_url, max_attempts, backoff_factor). Raises on any failure. The loaded records' files
    in the pipelines directory (customer data) are deleted after the load unless ``keep_load_packages``."""
    say = progress or (lambda _: None)
    source = SOURCES[api](**source_kwargs)
    say(f"dlt {api}: {len(source.resources)} resources -> dataset {pipeline.dataset_name}")
    seconds: dict[str, float] = {}
    started = time.monotonic()
    pipeline.extract(source)
    seconds["extract"] = time.monotonic() - started
    say(f"  extracted  in {seconds['extract']:6.2f} s")
    step = time.monotonic()
    info = pipeline.normalize()
    seconds["normalize"] = time.monotonic() - step
    rows = {k: v for k, v in info.row_counts.items() if not k.startswith("_dlt")}
    say(f"  normalized in {seconds['normalize']:6.2f} s: {sum(rows.values())} rows")
    step = time.monotonic()
    with _completed_jobs_deleted(not keep_load_packages):
        pipeline.load().raise_on_failed_jobs()
    seconds["load"] = time.monotonic() - step
    say(f"  loaded     in {seconds['load']:6.2f} s (total {time.monotonic() - started:.2f} s)")
    return LoadResult(pipeline, rows, seconds)
