"""target-postgres-bulk: settings named as target-postgres names them; COPY, then one upsert per batch."""

from __future__ import annotations

from singer_sdk import typing as th

from loaderkit import BulkTarget, loader_settings
from target_postgres_bulk.warehouse import PostgresWarehouse


class TargetPostgresBulk(BulkTarget):
    """Loads Singer streams into PostgreSQL: records are spooled to JSON Lines, copied with COPY into a
    staging table as jsonb, checked and upserted set-wise (INSERT ... ON CONFLICT on the key properties,
    plain INSERT without them), one transaction per batch."""

    name = "target-postgres-bulk"
    warehouse_class = PostgresWarehouse
    default_schema_name = "public"
    config_jsonschema = loader_settings(
        th.Property(
            "host", th.StringType, title="Host", default="localhost", description="Hostname of the server."
        ),
        th.Property("port", th.IntegerType, title="Port", default=5432, description="Port of the server."),
        th.Property(
            "user", th.StringType, title="User", required=True, description="User name to connect as."
        ),
        th.Property(
            "password",
            th.StringType,
            title="Password",
            secret=True,
            description="Password of the user; leave unset when the server trusts the connection.",
        ),
        th.Property(
            "database", th.StringType, title="Database", required=True, description="Database to load into."
        ),
        own=[
            th.Property(
                "connect_timeout",
                th.IntegerType,
                title="Connect timeout",
                default=30,
                description="Seconds to wait for the server when connecting.",
            ),
        ],
    )


if __name__ == "__main__":
    TargetPostgresBulk.cli()
