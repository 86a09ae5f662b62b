"""Every fault kind, and how faults are targeted (path, request numbers, count, rate)."""

from __future__ import annotations

import http.client
import json
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pytest
import requests
from sandbox_testlib import auth_headers, get

from api_sandbox import Fault, parse_fault_spec, run_sandbox


@pytest.mark.parametrize("status", [500, 502, 503, 504, 401, 403, 404, 429])
def test_status_faults_have_json_bodies(status: int) -> None:
    with run_sandbox("crm", faults=[Fault(kind="status", status=status, path="/v1/tasks")]) as sb:
        r = get(sb, "/v1/tasks")
        assert r.status_code == status
        assert r.headers["Content-Type"].startswith("application/json")
        assert set(r.json()) == {"error", "message"}
        assert "Retry-After" not in r.headers
        assert get(sb, "/v1/accounts").status_code == 200  # other paths unaffected
        assert get(sb, "/v1/tasks").status_code == status  # no count: every request


def test_retry_after_seconds_and_http_date() -> None:
    faults = [
        Fault(kind="status", status=429, retry_after="2", path="/v1/tasks"),
        Fault(kind="status", status=503, retry_after_date=2.0, path="/v1/accounts"),
    ]
    with run_sandbox("crm", faults=faults) as sb:
        r = get(sb, "/v1/tasks")
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"
        r = get(sb, "/v1/accounts")
        assert r.status_code == 503
        when = parsedate_to_datetime(r.headers["Retry-After"]).timestamp()
        assert r.headers["Retry-After"].endswith("GMT")
        assert 0.5 <= when - time.time() <= 3.5


def test_request_number_targeting_and_count() -> None:
    faults = [
        Fault(kind="status", status=429, retry_after="1", path="/v1/tasks", on_requests={1, 2}),
        Fault(kind="status", status=503, path="/v1/users", count=3),
    ]
    with run_sandbox("crm", faults=faults) as sb:
        assert [get(sb, "/v1/tasks").status_code for _ in range(4)] == [429, 429, 200, 200]
        assert [get(sb, "/v1/users").status_code for _ in range(5)] == [503, 503, 503, 200, 200]
        assert sb.stats()["/v1/tasks"] == {"requests": 4, "statuses": {"429": 2, "200": 2}}
        # reset clears stats, log and faults; request numbering starts again
        sb.reset()
        assert sb.stats() == {} and sb.request_log() == []
        sb.add_fault(Fault(kind="status", status=500, path="/v1/tasks", on_requests=[2]))
        assert [get(sb, "/v1/tasks").status_code for _ in range(3)] == [200, 500, 200]
        sb.clear_faults()
        assert get(sb, "/v1/tasks").status_code == 200


def test_star_path_matches_every_api_path_but_not_control() -> None:
    with run_sandbox("leads", faults=[Fault(kind="status", status=502, count=2)]) as sb:
        assert requests.get(sb.root_url + "/_sandbox/stats", timeout=5).status_code == 200
        assert requests.get(sb.base_url + "/openapi.json", timeout=5).status_code == 200
        assert get(sb, "/v2/clients").status_code == 502
        assert get(sb, "/v2/leads").status_code == 502
        assert get(sb, "/v2/leads").status_code == 200


def test_rate_is_seeded() -> None:
    def run(seed: int) -> list[int]:
        with run_sandbox("crm", faults=[Fault(kind="status", status=500, rate=0.3, seed=seed)]) as sb:
            return [get(sb, "/v1/tags").status_code for _ in range(60)]

    a, b, c = run(7), run(7), run(8)
    assert a == b and a != c
    assert 5 <= a.count(500) <= 35 and set(a) == {200, 500}


def test_slow() -> None:
    with run_sandbox("crm", faults=[Fault(kind="slow", delay_s=0.4, count=1)]) as sb:
        t0 = time.perf_counter()
        r = get(sb, "/v1/tasks")
        slow = time.perf_counter() - t0
        assert r.status_code == 200 and len(r.json()["data"]) == 50
        t0 = time.perf_counter()
        get(sb, "/v1/tasks")
        assert slow >= 0.4 and time.perf_counter() - t0 < slow
        with pytest.raises(requests.exceptions.ReadTimeout):
            sb.add_fault(Fault(kind="slow", delay_s=1.0, count=1))
            get(sb, "/v1/tasks", timeout=0.2)


def test_a_status_fault_with_a_delay_answers_after_it() -> None:
    fault = parse_fault_spec("429,retry_after=60,delay=0.4,count=1")
    assert fault == Fault(kind="status", status=429, retry_after="60", delay_s=0.4, count=1)
    with run_sandbox("crm", faults=[fault]) as sb:
        t0 = time.perf_counter()
        r = get(sb, "/v1/tasks")
        slow = time.perf_counter() - t0
        assert r.status_code == 429 and r.headers["Retry-After"] == "60"
        t0 = time.perf_counter()
        assert get(sb, "/v1/tasks").status_code == 200
        assert slow >= 0.4 and time.perf_counter() - t0 < slow


def test_drop_mid_body() -> None:
    with run_sandbox("crm", faults=[Fault(kind="drop", count=1, path="/v1/tasks")]) as sb:
        url = urlsplit(sb.root_url)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=5)
        conn.request("GET", "/v1/tasks?limit=100", headers=auth_headers("crm"))
        resp = conn.getresponse()
        assert resp.status == 200
        length = int(resp.headers["Content-Length"])
        with pytest.raises(http.client.IncompleteRead) as exc:
            resp.read()
        assert 0 < len(exc.value.partial) < length
        conn.close()
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            sb.add_fault(Fault(kind="drop", count=1))
            get(sb, "/v1/tasks")
        assert get(sb, "/v1/tasks").status_code == 200  # count used up; server still fine


def test_not_json_html_and_no_selector() -> None:
    faults = [
        Fault(kind="not_json", count=1, path="/v2/leads"),
        Fault(kind="html", count=1, path="/v2/clients"),
        Fault(kind="no_selector", count=1, path="/v2/spreadsheets"),
        Fault(kind="no_selector", variant="error", count=1, path="/v2/users"),
    ]
    with run_sandbox("leads", faults=faults) as sb:
        r = get(sb, "/v2/leads")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.content)
        r = get(sb, "/v2/clients")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
        assert r.text.lstrip().lower().startswith("<!doctype html")
        r = get(sb, "/v2/spreadsheets", {"limit": 3})
        assert r.status_code == 200 and list(r.json()) == ["items"] and len(r.json()["items"]) == 3
        r = get(sb, "/v2/users")
        assert r.status_code == 200 and "data" not in r.json() and "error" in r.json()
        for path in ("/v2/leads", "/v2/clients", "/v2/spreadsheets", "/v2/users"):
            assert "data" in get(sb, path).json()
        log = sb.request_log()
        assert [e["fault"] for e in log[:4]] == ["not_json", "html", "no_selector", "no_selector"]


def test_fault_spec_parsing() -> None:
    f = parse_fault_spec("429,path=/v1/tasks,retry_after=2,on=1+2+5-6")
    assert (f.kind, f.status, f.path, f.retry_after, f.on_requests) == (
        "status",
        429,
        "/v1/tasks",
        "2",
        frozenset({1, 2, 5, 6}),
    )
    f = parse_fault_spec("500,rate=0.1,seed=7")
    assert (f.rate, f.seed, f.path) == (0.1, 7, "*")
    assert parse_fault_spec("slow,delay=5,count=1").delay_s == 5.0
    assert parse_fault_spec("503,retry_after_date=2").retry_after_date == 2.0
    assert parse_fault_spec("no_selector,variant=error").variant == "error"
    for kind in ("drop", "not_json", "html"):
        assert parse_fault_spec(kind).kind == kind
    with run_sandbox("crm", faults=["503,path=/v1/tags,count=1"]) as sb:
        assert get(sb, "/v1/tags").status_code == 503
        sb.add_fault("404,path=/v1/tags,on=2")
        assert get(sb, "/v1/tags").status_code == 404
    for bad in ("boom", "503,colour=red", "503,count"):
        with pytest.raises(ValueError):
            parse_fault_spec(bad)


def test_faults_over_http_control_endpoints() -> None:
    with run_sandbox("projects") as sb:
        ctl = sb.root_url + "/_sandbox"
        r = requests.post(
            ctl + "/faults", json={"kind": "status", "status": 504, "path": "/v1/jobs", "count": 1}
        )
        assert r.status_code == 201
        r = requests.post(ctl + "/faults", json={"spec": "429,path=/v1/files,retry_after=3"})
        assert r.status_code == 201
        assert requests.post(ctl + "/faults", json={"kind": "nope"}).status_code == 400
        assert len(requests.get(ctl + "/faults").json()) == 2
        assert get(sb, "/v1/jobs").status_code == 504
        assert get(sb, "/v1/jobs").status_code == 200
        r = get(sb, "/v1/files")
        assert r.status_code == 429 and r.headers["Retry-After"] == "3"
        assert requests.delete(ctl + "/faults").status_code == 200
        assert get(sb, "/v1/files").status_code == 200
        stats = requests.get(ctl + "/stats").json()
        assert stats["/v1/jobs"] == {"requests": 2, "statuses": {"504": 1, "200": 1}}
        log = requests.get(ctl + "/requests").json()
        assert [(e["path"], e["status"]) for e in log] == [
            ("/v1/jobs", 504),
            ("/v1/jobs", 200),
            ("/v1/files", 429),
            ("/v1/files", 200),
        ]
        assert requests.post(ctl + "/reset").status_code == 200
        assert requests.get(ctl + "/stats").json() == {}
        assert requests.get(ctl + "/requests").json() == []
