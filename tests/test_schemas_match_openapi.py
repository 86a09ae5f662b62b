"""Every tap schema says what the API's OpenAPI document (the sandbox's) says: types, formats,
nullability, nested objects and arrays. Run this module as a script to rewrite the schema files
after the vendor document changes: ``python tests/test_schemas_match_openapi.py``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from api_sandbox import run_sandbox

ROOT = Path(__file__).resolve().parent.parent
TAPS = {
    "crm": "plugins/tap-crm/tap_crm",
    "projects": "plugins/tap-projects/tap_projects",
    "leads": "plugins/tap-leads/tap_leads",
}
KEEP = ("type", "format", "description")


def singer_schema(openapi_schema: dict) -> dict:
    """The Singer form of an OpenAPI 3.1 schema: structure and types kept; enums, required lists and
    additionalProperties dropped (a new enum value or field at the vendor must not break a sync).
    Objects carry no description: singer-sdk's flattening mistakes an object's "description" for a
    property of that name (0.54.9), and then fails on records that have a "description" field."""
    keep = KEEP if "properties" not in openapi_schema else tuple(k for k in KEEP if k != "description")
    out = {k: openapi_schema[k] for k in keep if k in openapi_schema}
    if "properties" in openapi_schema:
        out["properties"] = {name: singer_schema(sub) for name, sub in openapi_schema["properties"].items()}
    if "items" in openapi_schema:
        out["items"] = singer_schema(openapi_schema["items"])
    if "anyOf" in openapi_schema:
        out["anyOf"] = [singer_schema(sub) for sub in openapi_schema["anyOf"]]
    return out


def expected_schemas(api: str) -> dict[str, dict]:
    with run_sandbox(api, records=1) as sb:
        components = sb.openapi()["components"]["schemas"]
        return {spec.name: singer_schema(components[spec.name]) for spec in sb.resources}


@pytest.mark.parametrize("api", sorted(TAPS))
def test_tap_schemas_agree_with_openapi(api):
    schema_dir = ROOT / TAPS[api] / "schemas"
    expected = expected_schemas(api)
    on_disk = {p.stem for p in schema_dir.glob("*.json")}
    assert on_disk == set(expected), "one schema file per resource, named after the stream"
    for name, schema in expected.items():
        assert json.loads((schema_dir / f"{name}.json").read_text()) == schema, name


if __name__ == "__main__":
    for api, package in TAPS.items():
        for name, schema in expected_schemas(api).items():
            path = ROOT / package / "schemas" / f"{name}.json"
            path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
            print(path.relative_to(ROOT), file=sys.stderr)
