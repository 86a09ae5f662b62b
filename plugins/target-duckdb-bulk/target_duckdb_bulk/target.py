"""target-duckdb-bulk: settings named as target-duckdb names them, loads through DuckDB's JSON reader."""

from __future__ import annotations

from singer_sdk import typing as th

from loaderkit import BulkTarget, loader_settings
from target_duckdb_bulk.warehouse import DuckDBWarehouse


class TargetDuckDBBulk(BulkTarget):
    """Loads Singer streams into a DuckDB file: records are spooled to JSON Lines, read by DuckDB's own
    JSON reader into a staging table, checked and merged on the key properties set-wise, one transaction
    per batch."""

    name = "target-duckdb-bulk"
    warehouse_class = DuckDBWarehouse
    default_schema_name = "main"
    config_jsonschema = loader_settings(
        th.Property(
            "filepath",
            th.StringType,
            required=True,
            title="File path",
            description="Path of the DuckDB database file (created with its directory when missing).",
        ),
        own=[
            th.Property(
                "memory_limit",
                th.StringType,
                title="Memory limit",
                default="256MB",
                description="DuckDB's memory_limit for the load: beyond it DuckDB spills to disk, so the "
                "loader's memory stays flat however large the table.",
            ),
        ],
    )


if __name__ == "__main__":
    TargetDuckDBBulk.cli()
