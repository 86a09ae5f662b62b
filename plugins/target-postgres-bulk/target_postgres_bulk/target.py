"""target-postgres-bulk: settings named as target-postgres names them; COPY, then one upsert per batch."""

from __future__ import annotations

from singer_sdk import typing as th

from loaderkit import BulkTarget, loader_settings
from target_postgres_bulk.warehouse import SSL_MODES, PostgresWarehouse


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
            # TLS, named as MeltanoLabs target-postgres names it.
            th.Property(
                "ssl_enable",
                th.BooleanType,
                title="SSL enable",
                default=False,
                description="Use TLS as ssl_mode says (verify-full unless set). Off: libpq's own default, "
                "sslmode 'prefer' (or PGSSLMODE): TLS when the server offers it, with any certificate, "
                "and plain text when it does not, without a word.",
            ),
            th.Property(
                "ssl_mode",
                th.StringType(allowed_values=list(SSL_MODES)),
                title="SSL mode",
                description="libpq's sslmode when ssl_enable is on (default verify-full: the server's "
                "certificate must chain to ssl_certificate_authority and name the host).",
            ),
            th.Property(
                "ssl_certificate_authority",
                th.StringType,
                title="SSL certificate authority",
                description="Root certificate(s) the server's certificate must chain to (libpq's "
                "sslrootcert): a file path, or the PEM text itself. Unset: ~/.postgresql/root.crt.",
            ),
            th.Property(
                "ssl_client_certificate_enable",
                th.BooleanType,
                title="SSL client certificate enable",
                default=False,
                description="Authenticate to the server with ssl_client_certificate and "
                "ssl_client_private_key.",
            ),
            th.Property(
                "ssl_client_certificate",
                th.StringType,
                title="SSL client certificate",
                description="The client certificate (libpq's sslcert): a file path, or the PEM text itself.",
            ),
            th.Property(
                "ssl_client_private_key",
                th.StringType,
                title="SSL client private key",
                secret=True,
                description="The client certificate's private key (libpq's sslkey): a file path, or the "
                "PEM text itself (written to a 0600 file in a private folder, removed at the end).",
            ),
        ],
    )


if __name__ == "__main__":
    TargetPostgresBulk.cli()
