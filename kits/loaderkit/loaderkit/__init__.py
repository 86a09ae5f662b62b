"""loaderkit: the shared kit of this repository's Singer loaders (target-duckdb-bulk, target-postgres-bulk).

A target is a `BulkTarget` with a `Warehouse`: records are spooled to JSON Lines files by the one
`BulkSink`, and each batch is loaded and merged set-wise by the database, in one transaction.
"""

from loaderkit.columns import Column, Kind, columns_from_schema, kind_of
from loaderkit.errors import LoadError, describe_key
from loaderkit.target import COMMON_SETTINGS, BulkTarget, loader_settings
from loaderkit.warehouse import Batch, BatchFile, Table, Warehouse

__all__ = [
    "COMMON_SETTINGS",
    "Batch",
    "BatchFile",
    "BulkTarget",
    "Column",
    "Kind",
    "LoadError",
    "Table",
    "Warehouse",
    "columns_from_schema",
    "describe_key",
    "kind_of",
    "loader_settings",
]
