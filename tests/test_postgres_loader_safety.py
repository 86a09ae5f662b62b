"""target-postgres-bulk keeps exactly what was sent and keeps its secrets, over real PostgreSQL.

Zone-less date-times are UTC whatever the database's TimeZone; a DSN pasted into a setting is refused
without its password; TLS settings named as MeltanoLabs target-postgres names them reach libpq; names
carrying quotes, backslashes, `$f$` and `;` land verbatim under `standard_conforming_strings=off` and
`check_function_bodies=off`; widening keeps every value; and a commit lost on the wire is reported as what
the server says happened to it (`txid_status`), through a real TCP proxy that cuts the connection at COMMIT.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import json
import logging
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg2
import pytest
from bulk import BIN, Loader, error_lines, only_error, output, record, schema, state
from psycopg2 import sql
from warehouse import postgres_execute

from loaderkit import Batch, BatchFile, Column, Kind, LoadError, Table
from loaderkit.warehouse import table_for
from target_postgres_bulk.warehouse import ISO_PREFIX, PostgresWarehouse, iso_wrong

SECRET = "Pw-9f3c1e77-never-printed"


@pytest.fixture
def loader(pg_database: str, tmp_path: Path) -> Loader:
    return Loader("postgres", tmp_path, pg_database)


def _database_settings(dsn: str, **settings: str) -> None:
    """ALTER DATABASE ... SET for the test's database, so the loader's own session starts with them."""
    name = urlparse(dsn).path.lstrip("/")
    quoted = '"' + name.replace('"', '""') + '"'
    postgres_execute(dsn, *(f"ALTER DATABASE {quoted} SET {k} = '{v}'" for k, v in settings.items()))


@pytest.fixture
def warehouse(pg_database: str) -> Iterator[PostgresWarehouse]:
    """target-postgres-bulk's warehouse in this process, on the test's database (it connects on first use)."""
    url = urlparse(pg_database)
    config = {"host": url.hostname, "port": url.port, "user": url.username, "password": url.password,
              "database": url.path.lstrip("/")}  # fmt: skip
    made = PostgresWarehouse(config, logging.getLogger("test"))
    yield made
    made.close()


def _load(warehouse: PostgresWarehouse, tmp_path: Path, stream: str, props: dict[str, Any], row: str) -> None:
    """One record (JSON text) of a stream loaded as one batch, into schema proof, keyed on id."""
    table = table_for(stream, {"properties": props}, ["id"], "proof", "")
    spool = tmp_path / f"{stream}-{len(list(tmp_path.iterdir()))}.jsonl"
    spool.write_text(row + "\n")
    warehouse.prepare(table)
    warehouse.load(table, Batch([BatchFile(spool)], what="record id=1"))


def _user_tables(loader: Loader) -> list[tuple[str, str]]:
    return [
        (s, t)
        for s, t in loader.query(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', "
            "'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' "
            "ORDER BY 1, 2"
        )
    ]


def _user_functions(loader: Loader) -> list[str]:
    return [
        r[0]
        for r in loader.query(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
        )
    ]


# -- 1. time zones ------------------------------------------------------------------------------------


def test_zoneless_datetimes_are_utc_whatever_the_database_timezone(loader: Loader) -> None:
    assert loader.dsn
    _database_settings(loader.dsn, timezone="Asia/Tokyo")
    props = {"id": {"type": "integer"}, "at": {"type": ["string", "null"], "format": "date-time"}}
    messages = [
        schema("events", props),
        record("events", id=1, at="2024-01-01T00:00:00"),
        record("events", id=2, at="2024-01-01T00:00:00+09:00"),
    ]
    assert (r := loader.run(messages)).returncode == 0, output(r)
    rows = loader.query('SELECT "id", "at" AT TIME ZONE \'UTC\' FROM "proof"."events" ORDER BY 1')
    assert rows == [(1, datetime.datetime(2024, 1, 1, 0, 0)), (2, datetime.datetime(2023, 12, 31, 15, 0))]


# -- 2. a DSN in a setting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("host", "postgresql://postgres:{secret}@127.0.0.1:{port}/postgres"),
        ("database", "postgres://postgres:{secret}@127.0.0.1:{port}/postgres"),
        ("database", "host=127.0.0.1 port={port} password={secret} dbname=postgres"),
        ("port", "postgresql://postgres:{secret}@127.0.0.1:{port}/postgres"),
    ],
)
def test_a_dsn_in_a_setting_is_refused_and_its_password_never_shown(
    loader: Loader, setting: str, value: str
) -> None:
    assert loader.dsn
    port = urlparse(loader.dsn).port
    settings: dict[str, Any] = {setting: value.format(secret=SECRET, port=port)}
    result = loader.run([schema("items", {"id": {"type": "integer"}}), record("items", id=1)], **settings)
    line = only_error(result, loader)
    if setting == "port":  # refused by the settings' schema: the error names the setting, not the value
        assert "invalid config: the value is not of type" in line and "config['port']" in line, line
    else:
        assert f"setting {setting!r}" in line and "connection string" in line, line
    assert SECRET not in result.stdout and SECRET not in result.stderr, output(result)


def test_a_password_never_appears_in_a_connection_failure(loader: Loader) -> None:
    """A failure libpq reports while the password is set (here a server that is not there)."""
    result = loader.run(
        [schema("items", {"id": {"type": "integer"}}), record("items", id=1)],
        host="127.0.0.1",
        port=_free_port(),
        password=SECRET,
        connect_timeout=5,
    )
    line = only_error(result, loader)
    assert "cannot connect to PostgreSQL" in line, line
    assert SECRET not in result.stdout + result.stderr, output(result)


# -- 3. TLS ----------------------------------------------------------------------------------------------


def test_tls_settings_are_named_as_meltanolabs_names_them() -> None:
    about = subprocess.run(
        [str(BIN / "target-postgres-bulk"), "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    settings = json.loads(about.stdout)["settings"]["properties"]
    for name in (
        "ssl_enable",
        "ssl_mode",
        "ssl_certificate_authority",
        "ssl_client_certificate_enable",
        "ssl_client_certificate",
        "ssl_client_private_key",
    ):
        assert name in settings, name
    assert "verify-full" in settings["ssl_mode"]["enum"]


def test_verify_full_against_a_plain_server_fails_with_one_line(loader: Loader, tmp_path: Path) -> None:
    ca = tmp_path / "root.crt"
    ca.write_text(
        "-----BEGIN CERTIFICATE-----\nnot used: the server offers no TLS\n-----END CERTIFICATE-----\n"
    )
    result = loader.run(
        [schema("items", {"id": {"type": "integer"}}), record("items", id=1)],
        password=SECRET,
        ssl_enable=True,
        ssl_mode="verify-full",
        ssl_certificate_authority=str(ca),
    )
    line = only_error(result, loader)
    assert "cannot connect to PostgreSQL" in line and "SSL" in line, line
    assert SECRET not in result.stdout + result.stderr, output(result)
    assert _user_tables(loader) == []


def test_an_unknown_ssl_mode_is_refused(loader: Loader) -> None:
    result = loader.run(
        [schema("items", {"id": {"type": "integer"}}), record("items", id=1)],
        ssl_enable=True,
        ssl_mode="verify-full sslrootcert=/dev/null",
    )
    line = only_error(result, loader)
    assert "ssl_mode" in line, line


# -- 4. names that try to break out ------------------------------------------------------------------

ODD_STREAM = "we\"ird'\\$f$;name"
ODD_KEY = "k\\'ey"
ODD_PROPS = {
    ODD_KEY: {"type": "integer"},
    'a"b': {"type": ["string", "null"]},
    "c\\": {"type": ["string", "null"]},
    "$f$": {"type": ["integer", "null"]},
    "x'; CREATE TABLE pwned (i int); --": {"type": ["string", "null"]},
}


def _odd(i: int, **changes: Any) -> dict[str, Any]:
    values = {
        ODD_KEY: i,
        'a"b': f"a{i}",
        "c\\": "\\'",
        "$f$": i * 10,
        "x'; CREATE TABLE pwned (i int); --": "z",
    }
    return {"type": "RECORD", "stream": ODD_STREAM, "record": {**values, **changes}}


@pytest.mark.parametrize("target_schema", ["proof", None])
def test_odd_names_land_verbatim_under_hostile_server_settings(
    loader: Loader, target_schema: str | None
) -> None:
    assert loader.dsn
    _database_settings(loader.dsn, standard_conforming_strings="off", check_function_bodies="off")
    stream = ODD_STREAM if target_schema else f"sch'e\\ma$f$;-{ODD_STREAM}"
    schema_name = target_schema or "sch'e\\ma$f$;"

    def odd(i: int, **changes: Any) -> dict[str, Any]:
        return {**_odd(i, **changes), "stream": stream}

    first = [schema(stream, ODD_PROPS, keys=[ODD_KEY]), odd(1), odd(2)]
    assert (r := loader.run(first, default_target_schema=target_schema)).returncode == 0, output(r)
    second = [schema(stream, ODD_PROPS, keys=[ODD_KEY]), odd(2, **{'a"b': "changed"}), odd(3)]
    assert (r := loader.run(second, default_target_schema=target_schema)).returncode == 0, output(r)
    # A value the table's type refuses only while merging: the diagnosis names the record.
    bad = [schema(stream, ODD_PROPS, keys=[ODD_KEY]), odd(4), odd(5, **{"$f$": 10**30})]
    result = loader.run(bad, default_target_schema=target_schema)
    line = only_error(result, loader)
    assert f"{ODD_KEY}=5" in line and "bigint" in line, line

    assert _user_tables(loader) == [(schema_name, stream.split("-", 1)[-1] if not target_schema else stream)]
    assert _user_functions(loader) == []
    schemas = loader.query(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
    )
    assert sorted(r[0] for r in schemas) == sorted({"public", schema_name})
    table = (
        '"'
        + schema_name.replace('"', '""')
        + '"."'
        + (stream if target_schema else ODD_STREAM).replace('"', '""')
        + '"'
    )
    cols = ", ".join('"' + c.replace('"', '""') + '"' for c in ODD_PROPS)
    key = '"' + ODD_KEY.replace('"', '""') + '"'
    rows = loader.query(f"SELECT {cols} FROM {table} ORDER BY {key}")
    z = "z"
    assert rows == [
        (1, "a1", "\\'", 10, z),
        (2, "changed", "\\'", 20, z),
        (3, "a3", "\\'", 30, z),
    ]


# -- 5. widening, key changes, columns no longer sent ------------------------------------------------


def test_widening_keeps_every_value(loader: Loader, warehouse: PostgresWarehouse, tmp_path: Path) -> None:
    """integer -> number -> string, and anything -> JSON (issue 23 item 3): each old value as it was sent."""
    exact = "0.1000000000000000055511151231257827"

    def run(kinds: dict[str, Any], row: str) -> None:
        _load(warehouse, tmp_path, "w", {"id": {"type": "integer"}, **kinds}, row)

    def row(key: int, **values: Any) -> str:
        return "{" + ", ".join(f'"{k}": {v}' for k, v in {"id": key, **values}.items()) + "}"

    date_time = {"type": ["string", "null"], "format": "date-time"}
    first = {"n": {"type": "integer"}, "doc": {"type": "object"}, "j": {}, "i": {"type": "integer"},
             "x": {"type": "number"}, "at": date_time}  # fmt: skip
    run(first, row(1, n=12345678901234, doc='{"a": 1}', j='"abc"', i=7, x=exact, at='"2024-01-01T00:00:00Z"'))
    run({**first, "n": {"type": "number"}}, row(2, n=1.5))
    as_text = {
        "n": {"type": "string"},
        "doc": {"type": "string"},
        "j": {"type": "string"},
        "at": {"type": "string"},
    }
    run({**first, **as_text}, row(3, n='"x"', doc='"d"', j='"s"', at='"t"'))
    assert loader.rows("w", '"id", "n", "doc", "j", "at"') == [
        (1, "12345678901234", '{"a": 1}', "abc", "2024-01-01T00:00:00+00:00"),
        (2, "1.5", None, None, None),
        (3, "x", "d", "s", "t"),
    ]
    as_json = {"i": {}, "x": {"type": ["number", "object"]}, "at": {"type": ["string", "array"]}}
    run({**first, **as_text, **as_json}, row(4, i="[1]", x='{"y": 2}', at="[]"))
    assert loader.rows("w", '"id", "i", "x"::text') == [
        (1, 7, exact),
        (2, None, None),
        (3, None, None),
        (4, [1], '{"y": 2}'),
    ]
    assert loader.column_types("w")["i"] == "jsonb" and loader.column_types("w")["at"] == "jsonb"


def test_a_key_change_on_a_table_with_rows_is_refused(loader: Loader) -> None:
    props = {"id": {"type": "integer"}, "region": {"type": "string"}}
    first = [schema("k", props), *(record("k", id=i, region="eu") for i in (1, 2, 3))]
    assert (r := loader.run(first)).returncode == 0, output(r)
    result = loader.run([schema("k", props, keys=["region"]), record("k", id=9, region="eu")])
    line = only_error(result, loader)
    assert "stream 'k'" in line and "(region)" in line, line
    assert loader.rows("k", '"id", "region"') == [(1, "eu"), (2, "eu"), (3, "eu")]


def test_a_column_the_stream_no_longer_sends_keeps_its_values(loader: Loader) -> None:
    props = {"id": {"type": "integer"}, "a": {"type": "string"}, "gone": {"type": "string"}}
    first = [schema("d", props), record("d", id=1, a="x", gone="kept"), record("d", id=2, a="y", gone="k2")]
    assert (r := loader.run(first)).returncode == 0, output(r)
    postgres_execute(loader.dsn or "", 'ALTER TABLE "proof"."d" ADD COLUMN "mine" text DEFAULT \'user\'')
    later = {"id": {"type": "integer"}, "a": {"type": "string"}}
    assert (r := loader.run([schema("d", later), record("d", id=1, a="new")])).returncode == 0, output(r)
    assert loader.rows("d", '"id", "a", "gone", "mine"') == [
        (1, "new", "kept", "user"),
        (2, "y", "k2", "user"),
    ]


# -- 6. a commit lost on the wire ---------------------------------------------------------------------

COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CuttingProxy:
    """A TCP proxy to PostgreSQL that cuts the first connection to send COMMIT after a COPY.

    `deliver`: the COMMIT reaches the server and its answer is swallowed (committed, the client never
    hears it); otherwise the COMMIT is swallowed (the server aborts the transaction). `at_copy`: cut at
    the COPY instead, before anything is committed. `refuse_after`:
    connections after the cut are refused (the server cannot be reached again)."""

    def __init__(
        self, upstream: tuple[str, int], deliver: bool, refuse_after: bool = False, at_copy: bool = False
    ) -> None:
        self.upstream = upstream
        self.deliver = deliver
        self.at_copy = at_copy
        self.refuse_after = refuse_after
        self.cut = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set() and self.refuse_after:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            state = {"copied": False, "armed": False}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    @staticmethod
    def _close(*socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _up(self, client: socket.socket, server: socket.socket, state: dict[str, bool]) -> None:
        tail = b""
        try:
            while data := client.recv(65536):
                seen = tail + data
                if b"COPY loaderkit_stage" in seen or b'COPY "loaderkit_stage"' in seen:
                    state["copied"] = True
                if state["copied"] and (self.at_copy or COMMIT in seen) and not self.cut.is_set():
                    self.cut.set()
                    if self.deliver:
                        state["armed"] = True
                        server.sendall(data)
                        return
                    self._close(client, server)
                    return
                server.sendall(data)
                tail = seen[-64:]
        except OSError:
            pass
        self._close(client, server)

    def _down(self, server: socket.socket, client: socket.socket, state: dict[str, bool]) -> None:
        try:
            while data := server.recv(65536):
                if state["armed"]:
                    break  # the answer to COMMIT: never delivered
                client.sendall(data)
        except OSError:
            pass
        self._close(client, server)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def proxy_factory(loader: Loader) -> Iterator[Any]:
    made: list[CuttingProxy] = []
    url = urlparse(loader.dsn or "")

    def make(**kwargs: Any) -> CuttingProxy:
        made.append(CuttingProxy((url.hostname or "127.0.0.1", url.port or 5432), **kwargs))
        return made[-1]

    yield make
    for p in made:
        p.close()


def _two_batches() -> list[dict[str, Any]]:
    props = {"id": {"type": "integer"}, "v": {"type": "string"}}
    return [
        schema("c", props),
        *(record("c", id=i, v=f"v{i}") for i in (1, 2, 3)),
        state(c={"at": 3}),
        *(record("c", id=i, v=f"v{i}") for i in (4, 5, 6)),
        state(c={"at": 6}),
    ]


def test_a_commit_whose_answer_is_lost_but_which_the_server_made_counts(
    loader: Loader, proxy_factory: Any
) -> None:
    proxy = proxy_factory(deliver=True)
    result = loader.run(_two_batches(), batch_size_rows=3, port=proxy.port)
    assert proxy.cut.is_set()
    assert result.returncode == 0, output(result)
    assert "Traceback" not in result.stderr
    assert "the server committed it" in result.stderr, output(result)
    assert loader.ids("c") == [1, 2, 3, 4, 5, 6]
    assert json.loads(result.stdout.splitlines()[-1]) == state(c={"at": 6})["value"]


def test_a_commit_lost_before_the_server_made_it_says_nothing_is_in_the_table(
    loader: Loader, proxy_factory: Any
) -> None:
    proxy = proxy_factory(deliver=False)
    result = loader.run(_two_batches(), batch_size_rows=3, port=proxy.port)
    assert proxy.cut.is_set()
    line = only_error(result, loader)
    assert "records (id=1 .. id=3)" in line and "the server rolled it back" in line, line
    assert loader.ids("c") == []


def test_a_commit_lost_with_the_server_gone_says_it_is_unknown(loader: Loader, proxy_factory: Any) -> None:
    proxy = proxy_factory(deliver=True, refuse_after=True)
    result = loader.run(_two_batches(), batch_size_rows=3, port=proxy.port)
    assert proxy.cut.is_set()
    line = only_error(result, loader)
    assert "records (id=1 .. id=3)" in line and "may or may not" in line, line
    assert SECRET not in result.stderr
    assert error_lines(result, loader.name) == [line]


def test_a_connection_lost_mid_copy_says_nothing_of_the_batch_committed(
    loader: Loader, proxy_factory: Any
) -> None:
    proxy = proxy_factory(deliver=False, at_copy=True)
    result = loader.run(_two_batches(), batch_size_rows=3, port=proxy.port)
    assert proxy.cut.is_set()
    line = only_error(result, loader)
    assert "records (id=1 .. id=3)" in line and "nothing of it committed" in line, line
    assert "connection was lost" in line and result.stdout == "", line
    assert loader.ids("c") == []


def test_a_commit_the_server_refuses_says_nothing_of_the_batch_committed(loader: Loader) -> None:
    messages = _two_batches()
    assert (r := loader.run(messages[:5])).returncode == 0, output(r)
    postgres_execute(
        loader.dsn or "",
        "CREATE FUNCTION proof.refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "'BEGIN RAISE EXCEPTION ''refused at commit''; END'",
        "CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON proof.c DEFERRABLE INITIALLY DEFERRED "
        "FOR EACH ROW EXECUTE FUNCTION proof.refuse()",
    )
    result = loader.run([messages[0], *messages[5:]])
    line = only_error(result, loader)
    assert "records (id=4 .. id=6)" in line and "refused the commit" in line, line
    assert "nothing of it committed" in line and "refused at commit" in line, line
    assert loader.ids("c") == [1, 2, 3]


def test_numbers_and_decimals_unchanged(loader: Loader) -> None:
    """Guard for the speed path: numeric keeps every digit after the change of session settings."""
    props = {"id": {"type": "integer"}, "x": {"type": "number"}}
    line = '{"type":"RECORD","stream":"n","record":{"id":1,"x":0.1000000000000000055511151231257827}}'
    assert (r := loader.run([schema("n", props), line])).returncode == 0, output(r)
    assert loader.rows("n", '"x"') == [(decimal.Decimal("0.1000000000000000055511151231257827"),)]


# -- the statements themselves ------------------------------------------------------------------------


def _render(dsn: str, table: Table) -> str:
    con = psycopg2.connect(dsn)
    try:
        return (
            PostgresWarehouse({"user": "u", "database": "d"}, logging.getLogger("test"))
            ._merge_sql(table)
            .as_string(con)
        )
    finally:
        con.close()


def test_upsert_quotes_names_and_updates_the_other_columns(pg_database: str) -> None:
    table = Table(
        "s", 'my "schema"', "Odd Table", (Column("id", Kind.INTEGER), Column("a b", Kind.STRING)), ("id",)
    )
    statement = _render(pg_database, table)
    assert 'INSERT INTO "my ""schema"""."Odd Table" ("id", "a b")' in statement
    assert 'ON CONFLICT ("id") DO UPDATE SET "a b" = EXCLUDED."a b"' in statement
    assert 'DISTINCT ON (r."id")' in statement and "s.seq DESC" in statement


def test_only_key_columns_do_nothing_and_no_key_appends(pg_database: str) -> None:
    only_keys = Table("s", "x", "t", (Column("id", Kind.INTEGER),), ("id",))
    assert _render(pg_database, only_keys).endswith('ON CONFLICT ("id") DO NOTHING')
    no_keys = Table("s", "x", "t", (Column("id", Kind.INTEGER),), ())
    statement = _render(pg_database, no_keys)
    assert "ON CONFLICT" not in statement and statement.endswith("ORDER BY s.seq")


# -- the value rule, case by case (in-process: one warehouse, one load per case) ---------------------

REFUSED = object()
DT = {"type": "string", "format": "date-time"}
EXACT = "0.1000000000000000055511151231257827"
VALUE_CASES = [
    ("integer", {"type": "integer"}, "5", "5"),
    ("integer", {"type": "integer"}, '"5"', REFUSED),
    ("integer", {"type": "integer"}, "5.0", REFUSED),
    ("integer", {"type": "integer"}, "-1.5", REFUSED),
    ("integer", {"type": "integer"}, "1e2", "100"),
    ("integer", {"type": "integer"}, "9223372036854775808", REFUSED),
    ("integer", {"type": "integer"}, "true", REFUSED),
    ("integer", {"type": "integer"}, "1e30", REFUSED),
    ("number", {"type": "number"}, '"12.5"', REFUSED),
    ("number", {"type": "number"}, "true", REFUSED),
    ("number", {"type": "number"}, EXACT, EXACT),
    ("boolean", {"type": "boolean"}, '"yes"', REFUSED),
    ("boolean", {"type": "boolean"}, "1", REFUSED),
    ("string", {"type": "string"}, "123", REFUSED),
    ("string", {"type": "string"}, '{"a": 1}', REFUSED),
    ("string", {"type": "string"}, '"a\\u0000b"', REFUSED),
    ("date-time", DT, '"yesterday"', REFUSED),
    ("date-time", DT, '"now"', REFUSED),
    ("date-time", DT, "20240101", REFUSED),
    ("date-time", DT, '"2024-01-01T00:00:00"', "2024-01-01 00:00:00+00"),
    ("date", {"type": "string", "format": "date"}, '"today"', REFUSED),
    ("json", {"type": "object"}, '{"p": [1234567890.123456789]}', '{"p": [1234567890.123456789]}'),
]  # fmt: skip


def test_each_value_is_kept_or_refused_never_coerced(
    pg_database: str, warehouse: PostgresWarehouse, tmp_path: Path
) -> None:
    _database_settings(pg_database, timezone="Asia/Tokyo")  # before the warehouse connects
    outcomes = []
    for i, (name, prop, value, _) in enumerate(VALUE_CASES):
        props = {"id": {"type": "integer"}, "v": prop}
        try:
            _load(warehouse, tmp_path, f"v{i}", props, f'{{"id": 1, "v": {value}}}')
        except LoadError as refused:
            assert f"stream 'v{i}'" in str(refused) and "id=1" in str(refused), (name, value, refused)
            assert "property 'v'" in str(refused), (name, value, refused)
            outcomes.append(REFUSED)
            continue
        with warehouse.con.cursor() as cur:
            cur.execute(sql.SQL("SELECT v::text FROM {}").format(sql.Identifier("proof", f"v{i}")))
            outcomes.append(cur.fetchone()[0])
        warehouse.con.commit()
    wanted = [expected for *_, expected in VALUE_CASES]
    assert [(c[0], c[2], o) for c, o in zip(VALUE_CASES, outcomes, strict=True)] == [
        (c[0], c[2], w) for c, w in zip(VALUE_CASES, wanted, strict=True)
    ]


def test_the_value_check_of_a_wide_record_fits_the_servers_select_lists(loader: Loader) -> None:
    """900 date-time columns (as many as a page holds) take 1,800 entries in the check's select lists,
    past the 1,664 one list holds: they load, and a wrong value in the last one is refused by name."""
    props = {"id": {"type": "integer"}, **{f"t{i}": DT for i in range(900)}}
    values = {f"t{i}": "2024-01-01T00:00:00Z" for i in range(900)}
    assert (r := loader.run([schema("wide", props), record("wide", id=1, **values)])).returncode == 0, output(
        r
    )
    assert loader.ids("wide") == [1]
    line = only_error(
        loader.run([schema("wide", props), record("wide", id=2, **(values | {"t899": "now"}))]), loader
    )
    assert "record id=2" in line and "property 't899'" in line and "date-time" in line, line
    assert loader.ids("wide") == [1]


def test_a_key_repeated_in_one_record_keeps_the_last(loader: Loader) -> None:
    props = {"id": {"type": "integer"}, "s": {"type": "string"}}
    line = '{"type": "RECORD", "stream": "dup", "record": {"id": 1, "s": "first", "s": "last"}}'
    assert (r := loader.run([schema("dup", props), line])).returncode == 0, output(r)
    assert loader.rows("dup", '"s"') == [("last",)]


ISO_TEXTS = [
    "2024-05-01", "2024-05-01T10:30:00Z", "2024-05-01 10:30:00+02:00", "2024-05-01T10:30:00.123456+00:00",
    "2024-05-01T10:30:00.1234567Z", "2024-05-01T10:30:00.1234560000Z", "2024-05-01T10:30:00.12345600001Z",
    "2024-05-01T23:59:60Z", "2024-05-01 23:59:60", "2024-05-01T10:60:00Z", "2024-05-01T10:30:00.5:60",
    "2024-5-01", "24-05-01", "2024-05-1", "2024/05/01", "x024-05-01", "2024-0x-01", "2024-05-0x", "epoch",
    "now", "infinity", " 2024-05-01", "2024-05-01 ", "2024-05-01T", "2024-05-01T10:30", "20240501",
    "2024-05-01.1234567", "2024-05-01T10:30:00.", "٢٠٢٤-05-01", "2024-05-01T10:30:00.123456789012",
    "", "2024--5-01", "2024-05--1", "2024-05-01T10:30:00+05:30 (IST)",
]  # fmt: skip


@pytest.mark.parametrize("kind", [Kind.TIMESTAMP, Kind.DATE])
def test_the_fast_date_checks_refuse_what_the_rule_refuses(pg_database: str, kind: Kind) -> None:
    """The LIKE-and-ltrim check of dates and date-times (PostgreSQL's regexes cost 2 µs a value) refuses
    exactly the texts ISO_PREFIX's regex refuses, over the server's own operators."""
    query = sql.SQL("SELECT t, {} AS fast, t !~ {} AS rule FROM unnest({}::text[]) AS t").format(
        iso_wrong(kind, sql.Identifier("t")), sql.Literal(ISO_PREFIX[kind]), sql.Literal(ISO_TEXTS)
    )
    rows = postgres_execute(pg_database, query)  # no parameters: the LIKE patterns' % stay as they are
    assert len(rows) == len(ISO_TEXTS)
    assert [(t, fast) for t, fast, _ in rows] == [(t, rule) for t, _, rule in rows]
    assert {rule for *_, rule in rows} == {True, False}  # both outcomes met
