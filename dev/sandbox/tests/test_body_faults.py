"""Bodies the way real APIs sometimes send them: byte order mark, other charsets, one invalid byte, numbers
with more digits than a double, ids beyond 64 bits, a 10 MB record."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests
from sandbox_testlib import get, raw_get

from api_sandbox import Fault, parse_fault_spec, run_sandbox

PAGE = "/v1/tasks?offset=0&limit=1000"


def _records(body: bytes) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(body)["data"]
    return data


def _encodes(char: str, charset: str) -> bool:
    try:
        char.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def test_bom() -> None:
    with run_sandbox("crm", records=30, faults=["bom,path=/v1/tasks,count=1"]) as sb:
        status, headers, body = raw_get(sb, "/v1/tasks?limit=5")
        _, _, normal = raw_get(sb, "/v1/tasks?limit=5")
        assert status == 200 and body[:3] == b"\xef\xbb\xbf" and body[3:] == normal
        assert int(headers["Content-Length"]) == len(body)
        assert headers["Content-Type"] == "application/json"
        assert requests.get(sb.root_url + "/_sandbox/faults", timeout=5).json()[0]["kind"] == "bom"


@pytest.mark.parametrize("charset", ["utf-16", "iso-8859-1", "windows-1252", "utf-16-be"])
def test_charset_same_document_other_encoding(charset: str) -> None:
    with run_sandbox("crm", records=500) as sb:
        _, _, normal = raw_get(sb, PAGE)
        text = normal.decode()
        assert "é" in text and "🚀" in text  # what the encodings must cope with
        sb.add_fault(f"charset,charset={charset},count=1")
        status, headers, body = raw_get(sb, PAGE)
        assert status == 200 and headers["Content-Type"] == f"application/json; charset={charset}"
        assert body != normal
        assert json.loads(body.decode(charset)) == json.loads(normal)
        if charset in ("iso-8859-1", "windows-1252"):
            assert "é".encode(charset) in body  # encodable: one byte
            assert b"\\ud83d\\ude80" in body  # beyond the BMP: a surrogate pair of escapes
            lacking = {c for c in text if 0xFF < ord(c) <= 0xFFFF and not _encodes(c, charset)}
            assert lacking  # e.g. ✅: escaped
            for c in lacking:
                assert f"\\u{ord(c):04x}".encode() in body
        # requests decodes by the declared charset too
        sb.add_fault(f"charset,charset={charset},count=1")
        assert get(sb, "/v1/tasks", {"limit": 1000}).json() == json.loads(normal)


def test_charset_needs_a_known_charset() -> None:
    with pytest.raises(ValueError, match="charset"):
        Fault(kind="charset")
    with pytest.raises(ValueError, match="unknown charset"):
        parse_fault_spec("charset,charset=klingon-8")


def test_bad_byte_is_exactly_one_invalid_byte_in_one_string() -> None:
    with run_sandbox("crm", records=300) as sb:
        _, _, normal = raw_get(sb, PAGE)
        records = _records(normal)
        for index in (0, 7):
            sb.add_fault(Fault(kind="bad_byte", index=index, count=1))
            status, _, body = raw_get(sb, PAGE)
            assert status == 200
            assert body.count(b"\xff") == 1 and len(body) <= len(normal)
            with pytest.raises(UnicodeDecodeError):
                body.decode("utf-8")
            text = body.decode("utf-8", errors="replace")
            assert text.count("\ufffd") == 1
            got = _records(text.encode())
            # the first field after id with a non-empty string value: "name" for tasks
            assert got[index]["name"] == "\ufffd" + records[index]["name"][1:]
            assert got[:index] + got[index + 1 :] == records[:index] + records[index + 1 :]
            assert {k: v for k, v in got[index].items() if k != "name"} == {
                k: v for k, v in records[index].items() if k != "name"
            }
        # a first character of several UTF-8 bytes is replaced whole: still one invalid byte, one U+FFFD
        multi = next(i for i, r in enumerate(records) if len(r["name"][0].encode()) > 1)
        sb.add_fault(f"bad_byte,index={multi},name=name,count=1")
        _, _, body = raw_get(sb, PAGE)
        assert body.count(b"\xff") == 1
        text = body.decode("utf-8", errors="replace")
        assert text.count("\ufffd") == 1
        assert _records(text.encode())[multi]["name"] == "\ufffd" + records[multi]["name"][1:]
        # a page without record K goes out unchanged; so do 401s
        sb.add_fault("bad_byte,index=5000,count=1")
        assert raw_get(sb, PAGE)[2] == normal
        sb.add_fault("bad_byte,count=1")
        status, _, body = raw_get(sb, PAGE, headers={})
        assert status == 401 and b"\xff" not in body


def test_field_raw_number_text_byte_for_byte() -> None:
    with run_sandbox("crm", records=50) as sb:
        path = "/v1/opportunities?limit=20"
        _, _, normal = raw_get(sb, path)
        sb.add_fault("field,name=amount,value=1234567890.123456789,count=1")
        _, _, body = raw_get(sb, path)
        assert body.count(b'"amount":1234567890.123456789') == 20
        exact = json.loads(body, parse_float=Decimal)["data"]
        assert {r["amount"] for r in exact} == {Decimal("1234567890.123456789")}
        others = [{k: v for k, v in r.items() if k != "amount"} for r in _records(body)]
        assert others == [{k: v for k, v in r.items() if k != "amount"} for r in _records(normal)]

        sb.add_fault("field,name=id,value=18446744073709551621,index=0,count=1")
        _, _, body = raw_get(sb, path)
        assert body.startswith(b'{"data":[{"id":18446744073709551621,')
        got = _records(body)
        assert got[0]["id"] == 18446744073709551621 and got[1:] == _records(normal)[1:]

        # any JSON text; commas escaped in the spec; a field the record lacks is added at its end
        sb.add_fault(r'field,name=extra,value={"a": [1\, 2]},index=1,count=1')
        _, _, body = raw_get(sb, path)
        assert b'"extra":{"a": [1, 2]}}' in body
        assert _records(body)[1]["extra"] == {"a": [1, 2]}
        # JSON endpoint: any string
        r = requests.post(
            sb.root_url + "/_sandbox/faults",
            json={"kind": "field", "name": "amount", "value": "1e400", "index": 0, "count": 1},
            timeout=5,
        )
        assert r.status_code == 201
        assert b'"amount":1e400,' in raw_get(sb, path)[2]
    with pytest.raises(ValueError, match="not a JSON text"):
        parse_fault_spec("field,name=amount,value=12.3.4")
    with pytest.raises(ValueError, match="name=FIELD"):
        parse_fault_spec("field,value=1")


def test_huge_record() -> None:
    with run_sandbox("leads", records=20) as sb:
        _, _, normal = raw_get(sb, "/v2/leads?limit=3")
        sb.add_fault("huge,path=/v2/leads,count=1")
        status, headers, body = raw_get(sb, "/v2/leads?limit=3")
        assert status == 200 and int(headers["Content-Length"]) == len(body) > 10_000_000
        got, plain = _records(body), _records(normal)
        assert len(json.dumps(got[0], ensure_ascii=False, separators=(",", ":")).encode()) == 10_000_000
        assert got[0]["name"].startswith(plain[0]["name"]) and got[0]["id"] == plain[0]["id"]
        assert got[1:] == plain[1:]
        sb.add_fault(Fault(kind="huge", record_bytes=5000, index=2, name="description", count=1))
        got = _records(raw_get(sb, "/v2/leads?limit=3")[2])
        assert len(json.dumps(got[2], ensure_ascii=False, separators=(",", ":")).encode()) == 5000
        assert got[:2] == plain[:2]
