"""Determinism, variety, and that served records validate against the sandbox's own OpenAPI schemas."""

from __future__ import annotations

import json
import re

import pytest
import requests
from jsonschema import Draft202012Validator, FormatChecker
from sandbox_testlib import get

from api_sandbox import Sandbox, run_sandbox

APIS = ("crm", "projects", "leads")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FORMATS = FormatChecker()


@FORMATS.checks("date-time")
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or bool(RFC3339.match(value))


def _bodies(sb: Sandbox) -> dict[str, bytes]:
    out = {}
    for spec in sb.resources:
        params = {spec.offset_param: 3, spec.size_param: 40} if spec.paginated else None
        r = get(sb, spec.path, params)
        assert r.status_code == 200
        out[spec.name] = r.content
    return out


@pytest.mark.parametrize("api", APIS)
def test_same_seed_byte_identical_other_seed_differs(api: str) -> None:
    with run_sandbox(api, seed=5) as a, run_sandbox(api, seed=5) as b, run_sandbox(api, seed=6) as c:
        ba, bb, bc = _bodies(a), _bodies(b), _bodies(c)
        assert ba == bb
        assert all(ba[name] != bc[name] for name in ba)
        assert a.truth() == b.truth()


@pytest.mark.parametrize("api", APIS)
def test_served_records_validate_against_own_openapi(api: str) -> None:
    with run_sandbox(api, records=400) as sb:
        doc = requests.get(sb.base_url + "/openapi.json", timeout=5).json()
        assert doc == sb.openapi()
        schemas = doc["components"]["schemas"]
        for spec in sb.resources:
            assert set(schemas) == {s.name for s in sb.resources}
            schema = schemas[spec.name]
            assert schema["additionalProperties"] is False
            Draft202012Validator.check_schema(schema)
            validator = Draft202012Validator(schema, format_checker=FORMATS)
            params = {spec.offset_param: 0, spec.size_param: 1000} if spec.paginated else None
            records = get(sb, spec.path, params).json()[spec.selector]
            assert records == sb.records(spec.name)
            for rec in records:
                validator.validate(rec)
                assert 10 <= len(rec) <= 20
                assert 150 <= len(json.dumps(rec, ensure_ascii=False).encode()) <= 900
            # the envelope schema of the path says where the records are
            rel = spec.path[len(sb.base_url) - len(sb.root_url) :]
            env = doc["paths"][rel]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            assert env["required"] == [spec.selector]
            assert env["properties"][spec.selector]["items"] == {"$ref": f"#/components/schemas/{spec.name}"}


def test_openapi_describes_paths_params_and_security() -> None:
    expected_security = {
        "crm": {"type": "apiKey", "in": "header", "name": "Authorization"},
        "projects": {"type": "http", "scheme": "bearer"},
        "leads": {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
    }
    for api in APIS:
        with run_sandbox(api, max_page_size={"leads": 77} if api == "leads" else None) as sb:
            doc = sb.openapi()
            assert doc["openapi"].startswith("3.1")
            assert doc["servers"] == [{"url": sb.base_url}]
            scheme = doc["components"]["securitySchemes"]["apiKey"]
            assert {k: scheme[k] for k in expected_security[api]} == expected_security[api]
            for spec in sb.resources:
                rel = spec.path[len(sb.base_url) - len(sb.root_url) :]
                op = doc["paths"][rel]["get"]
                names = [p["name"] for p in op["parameters"]]
                if spec.paginated:
                    assert names == [spec.offset_param, spec.size_param]
                    size = op["parameters"][1]["schema"]
                    assert size["maximum"] == spec.max_page_size and size["default"] == 50
                else:
                    assert names == []
            if api == "leads":
                assert "clients_folders" in doc["components"]["schemas"]
                assert "prospecting_lists" in doc["components"]["schemas"]
                assert "/clients" in doc["paths"] and "/spreadsheets" in doc["paths"]
                assert doc["paths"]["/leads"]["get"]["parameters"][1]["schema"]["maximum"] == 77
            if api == "crm":
                assert "email_data_sources" in doc["components"]["schemas"]
                assert "/v1/datasources/email" in doc["paths"]


def test_variety_nulls_unicode_empty_offsets_decimals() -> None:
    with run_sandbox("crm", records=500) as sb:
        blob = b"".join(
            get(sb, s.path, {"limit": 1000} if s.paginated else None).content for s in sb.resources
        )
    text = blob.decode()
    for needle in (":null", '""', "[]", 'Z"', '+00:00"', '-05:00"', "true", "false", "é", "李", "🚀"):
        assert needle in text, needle
    records = [r for s in json.loads("[" + text.replace("}{", "},{") + "]") for r in s["data"]]
    numbers = [v for r in records for v in r.values() if isinstance(v, float)]
    assert any(v != int(v) for v in numbers)  # decimal amounts
    assert any(isinstance(v, list) and v and isinstance(v[0], dict) for r in records for v in r.values())
    assert any(isinstance(v, dict) for r in records for v in r.values())


def test_large_record_count_starts_fast() -> None:
    import time

    t0 = time.perf_counter()
    with run_sandbox("leads", records=1_000_000) as sb:
        assert time.perf_counter() - t0 < 3
        r = get(sb, "/v2/leads", {"offset": 999_990, "limit": 100})
        assert len(r.json()["data"]) == 10
        assert r.json()["data"][-1]["id"] == "ld_010000000"
