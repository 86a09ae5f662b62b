"""A key repeated inside a nested object of a JSON column keeps its last value, as JSON parsers and
PostgreSQL's jsonb do (issue 24), in both loaders, on real DuckDB and PostgreSQL. Read in the database
(a Python json.loads of the stored text would itself keep the last value and hide the first).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bulk import Loader, output, schema, state

PROPS = {
    "id": {"type": "integer"},
    "meta": {"type": ["object", "null"]},
    "tags": {"type": ["array", "null"]},
}
# By hand: json.dumps cannot write a repeated key.
LINES = [
    '{"type":"RECORD","stream":"items","record":{"id":1,"meta":{"a":"first","a":"last","b":{"c":1,"c":3}},'
    '"tags":[{"k":"x","k":"y"}]}}',
    # digits in the JSON column, and a nested number that must keep its digits
    '{"type":"RECORD","stream":"items","record":{"id":2,"meta":{"n":1,"n":0.1000000000000000055511151231257827},'
    '"tags":null}}',
    # an array of objects, each key once: nothing to change
    '{"type":"RECORD","stream":"items","record":{"id":3,"meta":{"a":"only"},"tags":[{"k":"p"},{"k":"q"}]}}',
]


@pytest.fixture(params=["duckdb", "postgres"])
def loader(request: pytest.FixtureRequest, tmp_path: Path) -> Loader:
    dsn = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    return Loader(request.param, tmp_path, dsn)


def test_a_key_repeated_in_a_nested_object_keeps_its_last_value(loader: Loader) -> None:
    result = loader.run([schema("items", PROPS, keys=["id"]), *LINES, state(done=1)])
    assert result.returncode == 0, output(result)
    if loader.kind == "duckdb":
        sql = (
            "SELECT id, meta->>'$.a', meta->>'$.b.c', meta::VARCHAR, tags->>'$[0].k', tags->>'$[1].k' "
            'FROM "proof"."items" ORDER BY id'
        )
    else:
        sql = (
            "SELECT id, meta->>'a', meta#>>'{b,c}', meta::text, tags#>>'{0,k}', tags#>>'{1,k}' "
            'FROM "proof"."items" ORDER BY id'
        )
    # (The whole object's text for row 2: DuckDB's ->> would read the number as a double.)
    rows = [
        (*row[:3], row[3].replace(" ", "") if row[0] == 2 else None, *row[4:]) for row in loader.query(sql)
    ]
    assert rows == [
        (1, "last", "3", None, "y", None),
        (2, None, None, '{"n":0.1000000000000000055511151231257827}', None, None),
        (3, "only", None, None, "p", "q"),
    ]
