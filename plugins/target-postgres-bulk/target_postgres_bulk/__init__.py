"""target-postgres-bulk: a Singer target loading PostgreSQL with COPY and a set-based upsert."""
