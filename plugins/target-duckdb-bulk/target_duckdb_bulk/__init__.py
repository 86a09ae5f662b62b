"""target-duckdb-bulk: a Singer target loading DuckDB through its own JSON reader."""
