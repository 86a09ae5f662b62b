"""Write each bulk loader's README from the loader itself: its column types and `--about --format=markdown`.
`python dev/scripts/loader_readmes.py --check` fails when a README is stale.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

import readmes

from loaderkit import Kind
from target_duckdb_bulk import warehouse as duckdb_warehouse
from target_duckdb_bulk.target import TargetDuckDBBulk
from target_postgres_bulk import warehouse as postgres_warehouse
from target_postgres_bulk.target import TargetPostgresBulk

JSON_SCHEMA = {
    Kind.INTEGER: "`integer`",
    Kind.NUMBER: "`number` (or integer and number)",
    Kind.BOOLEAN: "`boolean`",
    Kind.STRING: "`string`",
    Kind.TIMESTAMP: '`string` with `"format": "date-time"`',
    Kind.DATE: '`string` with `"format": "date"`',
    Kind.TIME: '`string` with `"format": "time"`',
    Kind.JSON: "`object`, `array`, mixed types",
}
# target-postgres-bulk's value rule, TLS and connection-string notes (the PostgreSQL part of the README).
POSTGRES_RULES = """\
### What each column accepts (PostgreSQL)

Checked set-wise in the server before the merge (an integer's fraction or range by `bigint`'s own input,
in the merge); a value that does not fit refuses the batch with one line naming the stream, the record's
key, the property and the value, and nothing of the batch is committed. Nothing is coerced.

| JSON schema | accepts | refused (examples) |
|:--|:--|:--|
| `integer` | JSON numbers without a fraction (`1E+2`: 100), in `bigint` | `"5"`, `5.0`, `true`, `1e30` |
| `number` | any JSON number, every digit kept (`numeric`) | `"12.5"`, `true` |
| `boolean` | `true`, `false` | `"yes"`, `1` |
| `string` | JSON strings | `123`, `{"a": 1}`, `"\\u0000"`, `"\\ud800"` (text cannot hold them) |
| `date-time` | ISO 8601 strings; without a zone: UTC | `"now"`, `20240101`, a leap second, `.123456789` |
| `date` | ISO 8601 dates, `YYYY-MM-DD` | `"today"`, `"2023-02-29"`, a date-time, numbers |
| `time` | ISO 8601 strings, no offset or UTC's | `"noon"`, `"10:00:00+02:00"`, `.123456789` |
| object, array, mixed, untyped | any JSON value (`jsonb`), nested digits kept | `"\\u0000"` |

A date-time without a zone is read as UTC whatever the server's or the database's `TimeZone` (the
session sets `TimeZone` to UTC). The columns keep microseconds: a further digit that is not 0 is refused,
not rounded; so are a leap second (PostgreSQL would read `23:59:60` as the next minute) and a time's
offset other than UTC's (a `time` column would drop it). `null` fits every column but a key property.
A key repeated inside one record: the last one wins (as JSON parsers and `jsonb` read it).

**Schema changes keep every value.** integer to number casts to `numeric`; anything to string turns each
old value into the text of its JSON form (a date-time as `2024-01-01T00:00:00+00:00`, a JSON string without
its quotes, an object as JSON text); anything to JSON turns each old value into the JSON value it was
loaded from. Other type changes are refused. A column the stream no longer sends, or one you added
yourself, keeps its values on the rows a merge updates. A change of key properties on an existing table
(it has no primary key or unique index on the new keys) is refused with one line.

**A commit whose answer is lost** (the connection drops while committing) is asked about on a new
connection with `txid_status`: committed, the load goes on (a warning says so); rolled back, the error says
nothing of that batch is in the table; when the server cannot be asked, the error says the batch may or
may not be in the table. A batch lost before its commit was sent is never in the table.

### TLS

Named as MeltanoLabs `target-postgres` names them: `ssl_enable` turns TLS on with `ssl_mode` (libpq's
`sslmode`, default `verify-full`: the certificate must chain to `ssl_certificate_authority`, libpq's
`sslrootcert`, and name the host); `ssl_client_certificate_enable` adds a client certificate
(`ssl_client_certificate`, `ssl_client_private_key`: libpq's `sslcert`, `sslkey`). Each certificate or key
is a file path or the PEM text itself (written to a 0600 file in a private folder, removed at exit). With
`ssl_enable` off the loader leaves libpq its default, `sslmode=prefer` (or `PGSSLMODE`): TLS when the
server offers it, **with any certificate, and plain text when it does not, without a word**, so a
password can cross the network readable. Use `verify-full` for any server not on this machine.
`ssl_mode` or `ssl_certificate_authority` set while `ssl_enable` is off is refused, not ignored.

### A URL or DSN in a setting

`host`, `user` and `database` each name one thing. A connection string pasted into one of them
(`postgresql://user:password@host/db`, `host=... password=...`, or `user@host` in `host`) is refused
with one line that names the setting and never shows the value (libpq's own error would repeat the
password): give host, port, user, password and database as settings of their own. A password is
removed from any error libpq reports.
"""
LOADERS: dict[str, tuple[type, Mapping[Kind, str], str, str, str]] = {
    "target-duckdb-bulk": (
        TargetDuckDBBulk,
        duckdb_warehouse.TYPES,
        "target-duckdb",
        '{"filepath": "out.duckdb", "default_target_schema": "tap_crm"}',
        "DuckDB reads each spooled file itself (`read_csv` takes every line whole, `from_json` parses it "
        "against a structure built from the schema, numbers straight into DECIMAL), checks it set-wise "
        "and merges it with one `MERGE INTO` in one transaction (the last record of a key in a batch wins; "
        "an updated row keeps the columns the stream does not send). JSON-schema `number` is "
        "`DECIMAL(38,18)`: every digit a tap sends up to 20 before and 18 after the point is kept exactly "
        "(a double would round `1234567890.123456789`); a value needing more is refused with its stream, "
        "key and column, never rounded. Any column also widens to `JSON` (a value becomes its JSON). "
        "Numbers inside `JSON` columns are stored as the text the tap sent "
        "(DuckDB's JSON reader would read them as doubles: each number is read as text instead). The key "
        "properties a table is merged on are recorded in its comment. `memory_limit` bounds DuckDB's "
        "memory; beyond it DuckDB spills to disk, but each column of a batch takes its own buffers: a "
        "table of 1,600 columns needs about 640 MB, and running out says so. When the disk fills after a "
        "batch was committed (only the checkpoint into the file failed), the error says the rows are "
        "committed: DuckDB replays its write-ahead log when it next opens the file.",
    ),
    "target-postgres-bulk": (
        TargetPostgresBulk,
        postgres_warehouse.TYPES,
        "target-postgres",
        '{"host": "localhost", "user": "postgres", "database": "warehouse"}',
        "Each spooled file goes to the server unparsed with `COPY ... FROM STDIN` into a temporary "
        "`(seq, data jsonb)` table; `jsonb_populate_record` types every row in C, and one "
        "`INSERT ... SELECT DISTINCT ON (key) ... ON CONFLICT (key) DO UPDATE` merges the batch (its last "
        "record per key wins), all in one transaction. Tables get a primary key on the key properties. "
        "JSON-schema `number` is unconstrained `numeric`: every digit a tap sends is kept. A password is "
        "optional (a server that trusts the connection needs none); it is never logged.\n\n" + POSTGRES_RULES,
    ),
}

# The value rule: one for every loader on the kit, tested case by case over each database; a loader's
# README shows it once that loader's tests hold it (plugins/target-duckdb-bulk/tests/test_duckdb_values.py).
VALUE_RULE_HOLDS = {"target-duckdb-bulk"}
VALUE_RULE = """\
Each value is loaded as the tap sent it, or the batch is refused: one line naming the stream, the record's
key, the property and the value, exit 1, nothing of the batch committed. Nothing is coerced.

| JSON schema | accepts | refuses (examples) |
|:--|:--|:--|
| `integer` | a JSON number without a fraction (`1E+2`: 100), as big as `BIGINT` holds | `"5"`, `1.5`, `5.0` |
| `number` | a JSON number, every digit kept | `"12.5"`, `true`, `1e400` |
| `boolean` | `true`, `false` | `"yes"`, `1`, `"true"` |
| `string` | a JSON string | `123`, `{"a":1}`, `true`, `"\\ud800"` (no pair: not text) |
| `string`, `format` `date-time` | RFC 3339 (`t`, `z` in any case); no zone: UTC | `20240101`, `.123456789` |
| `string`, `format` `date` | an ISO 8601 date alone, `YYYY-MM-DD` | `20240101`, a date-time |
| `string`, `format` `time` | an ISO 8601 time, no offset but UTC's | `"noon"`, `"10:00+02:00"`, `.1234567` |
| `object`, `array`, mixed, none | any JSON value, stored as JSON, its numbers digit for digit | |
| any, `null` | `null` or a missing property (not for a key property) | |

Date-times and times keep microseconds: a further digit that is not 0 is refused, not cut off. A key
repeated inside one record keeps its last value (as JSON parsers and PostgreSQL's `jsonb` do).
"""

TEMPLATE = """\
<!-- Generated by dev/scripts/loader_readmes.py from the loader itself; edit the loader or the script. -->
# {name}

{description}

A [Singer](https://hub.meltano.com/singer/spec) target built with the Meltano Singer SDK on `loaderkit`,
the repository's shared loader kit. Its settings are named as `{stock}`'s, so one can replace the other
in `meltano.yml`.

## Install

```bash
pip install ./kits/loaderkit ./plugins/{name}            # from a checkout of this repository
{name} --about                              # settings, capabilities
```

In your own Meltano project, from its Hub-style definition (`plugins/{name}/meltano-hub.yml`; its
`pip_url` names the published distributions: until they are published, `make dist` and
`export UV_FIND_LINKS=<checkout>/dist`, see the root README). It puts each tap's tables in a schema of
its own (`default_target_schema: $MELTANO_EXTRACT__LOAD_SCHEMA`, the extractor's `load_schema`, which
Meltano defaults to its namespace):

```bash
meltano add --plugin-type loader {name} --from-ref plugins/{name}/meltano-hub.yml
meltano run tap-crm {name}
```

Without Meltano, pipe any tap into it:

```bash
echo '{config}' > target.json
tap-crm --config tap.json | {name} --config target.json > state.json
```

## How it loads

{how}

- **Batches bounded by rows and time.** Records of a stream are spooled to a JSON Lines file on disk
  (Python's only work per record is one msgspec encode; floats are read as `Decimal`, so no digit is
  rounded on the way) until `batch_size_rows` of them are waiting or `batch_wait_limit_seconds` have
  passed; memory stays flat however large the sync.
- **Loads overlap reading.** A batch is loaded on a background thread (the database works with the GIL
  released) while the next records are read; when a new stream starts, the streams before it are loaded
  at once instead of all at the end.
- **STATE only after the rows it covers are committed.** The SDK drains every stream before it emits the
  latest STATE, the loader waits for every background load before writing it, and each load is one
  transaction: a loader killed at any moment never lets Meltano store progress that is not in the
  warehouse.
- **Merge on the key properties**, append when a stream has none. One schema per tap
  (`default_target_schema`), one table per stream, named as the stream; every identifier quoted.
- **Tables that cannot collide.** Two streams the database would put in one table are refused, naming
  both: `main-t` (DuckDB) or `public-t` (PostgreSQL) and `t` without `default_target_schema`; `Users`
  and `users` in DuckDB, which ignores the case of identifiers; names equal in their first 63 bytes in
  PostgreSQL, which keeps no more. Each table's comment records the stream it is written from, and a
  later run refuses to load another stream into it.
- **Schema changes.** A new property adds a column; integer to number, or anything to string, widens the
  column, every value kept (a number becomes the text it was sent as: `1.5`); any other type change is
  refused with a clear error, never truncated, unless the table holds no rows (a SCHEMA with no records
  made it): then the column takes the new type.
- **Merges touch only the rows they mean to.** An updated row keeps the values of columns the stream no
  longer sends and of columns a user added; a stream whose key properties changed is refused on a table
  that holds rows merged on other keys, with one line.
- **BATCH messages** (a tap's `batch_config`, JSON Lines, gzip or not, local files): the files go straight
  to the database, never parsed in Python. Two consecutive files of a stream (up to 32 MB) make one load,
  one transaction (DuckDB reads two files on two threads, one on one), and the STATE after them waits for
  its commit. Each file is removed once its load is committed, and when the load fails;
  `batch_files_keep: true` keeps them.
- **Bad input** (a RECORD before its SCHEMA, a value its column cannot hold, a missing key, a lost
  connection): one line naming the stream and the record's key, exit 1, nothing of the batch committed.
  A malformed SCHEMA (a property that is not an object, `properties` not an object, a `type` naming no
  JSON type, ...) and a full spool disk end the same way, naming the stream and what is wrong.
- **Private files.** The spool directory (in the system's temporary directory: set `TMPDIR` to move it)
  is 0700 and its files 0600, and every file and folder the loader creates is its owner's alone
  whatever the umask it was started with; the spool directory is removed however the run ends.

## Column types

| JSON schema | column |
|:--|:--|
{types}
{rule}
## Settings and capabilities (`{name} --about --format=markdown`)

{about}
"""


def render(name: str) -> str:
    target, types, stock, config, how = LOADERS[name]
    return TEMPLATE.format(
        name=name,
        description=" ".join((target.__doc__ or "").split()),
        stock=stock,
        config=config,
        how=how,
        types="\n".join(f"| {JSON_SCHEMA[kind]} | `{types[kind]}` |" for kind in Kind),
        rule=f"\n## What each value must be\n\n{VALUE_RULE}" if name in VALUE_RULE_HOLDS else "",
        about=readmes.about_markdown(name),
    )


if __name__ == "__main__":
    sys.exit(readmes.main("loader_readmes.py", __doc__, LOADERS, render))
