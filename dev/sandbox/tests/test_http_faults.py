"""HTTP that misbehaves: redirects (cross-host and same-origin), trickling bodies, a 401 that echoes the key;
what the request log records about each request."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from urllib.parse import quote, quote_plus, urlsplit

import pytest
import requests
from sandbox_testlib import auth_headers, get, ids, raw_get

from api_sandbox import Fault, parse_fault_spec, run_sandbox

ODD_KEY = "k+y/with=odd"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_status_and_location_placeholders(status: int) -> None:
    location = "http://localhost:{port}{path}?{query}"
    with run_sandbox(
        "leads", api_key=ODD_KEY, faults=[Fault(kind="redirect", status=status, location=location)]
    ) as sb:
        code, headers, body = raw_get(
            sb, "/v2/leads?offset=0&limit=5", headers=auth_headers("leads", ODD_KEY)
        )
        assert code == status
        assert headers["Location"] == f"http://localhost:{sb.port}/v2/leads?offset=0&limit=5"
        assert json.loads(body)["error"] == "moved"


def test_redirect_scheme_host_and_key_placeholders() -> None:
    spec = r"redirect,location={scheme}://{host}:{port}/x?k={key_quoted}&q={query}\,more"
    with run_sandbox("leads", api_key=ODD_KEY, faults=[spec]) as sb:
        headers = {**auth_headers("leads", ODD_KEY), "Host": f"api.example.test:{sb.port}"}
        code, got, _ = raw_get(sb, "/v2/clients?a=1", headers=headers)
        assert code == 302  # the default status
        assert (
            got["Location"] == f"http://api.example.test:{sb.port}/x?k={quote(ODD_KEY, safe='')}&q=a=1,more"
        )
        # no key sent: an empty key_quoted
        code, got, _ = raw_get(sb, "/v2/clients", headers={})
        assert code == 302 and "?k=&q=" in got["Location"]
    # the control endpoint takes any string
    with run_sandbox("crm") as sb:
        location = "/_moved{path}?{query}&a=1,b=2"
        r = requests.post(
            sb.root_url + "/_sandbox/faults", json={"kind": "redirect", "location": location}, timeout=5
        )
        assert r.status_code == 201
        assert raw_get(sb, "/v1/tasks?limit=1")[1]["Location"] == "/_moved/v1/tasks?limit=1&a=1,b=2"
    with pytest.raises(ValueError, match="redirect status"):
        parse_fault_spec("redirect,status=305")


def test_same_origin_redirect_lands_on_moved_path_with_the_same_resource_and_auth() -> None:
    with run_sandbox("crm", records=40, faults=["redirect,path=/v1/tasks"]) as sb:
        r = get(sb, "/v1/tasks", {"offset": 5, "limit": 10})
        assert r.history and r.history[0].status_code == 302
        assert urlsplit(r.url).path == "/_moved/v1/tasks"
        assert ids(r, "data") == sb.truth("tasks")[5:15]
        # the moved path needs the key as the original does
        assert get(sb, "/_moved/v1/tasks", headers={}).status_code == 401
        log = sb.request_log()
        assert [(e["path"], e["status"], e["moved"], e["fault"]) for e in log] == [
            ("/v1/tasks", 302, False, "redirect"),
            ("/_moved/v1/tasks", 200, True, None),
            ("/_moved/v1/tasks", 401, True, None),
        ]
        assert log[1]["credentials"] == ["Authorization"] and log[1]["query"] == {
            "offset": "5",
            "limit": "10",
        }
    # a fault on every path ("*") leaves /_moved alone, so a same-origin redirect ends
    with run_sandbox("leads", records=30, faults=["redirect"]) as sb:
        r = get(sb, "/v2/spreadsheets", {"offset": 0, "limit": 7})
        assert r.status_code == 200 and ids(r, "data") == sb.truth("prospecting_lists")[:7]
        assert get(sb, "/v2/nope").status_code == 404
        assert get(sb, "/_moved/v2/nope").status_code == 404
        # a fault that names the moved path does fire there
        sb.add_fault("503,path=/_moved/v2/leads")
        assert get(sb, "/v2/leads").status_code == 503


def test_cross_host_redirect_reaches_the_same_server_under_another_name() -> None:
    with run_sandbox(
        "leads",
        records=30,
        faults=["redirect,status=307,location=http://localhost:{port}{path}?{query},count=1"],
    ) as sb:
        r = get(sb, "/v2/leads", {"offset": 0, "limit": 3})
        assert r.status_code == 200 and urlsplit(r.url).hostname == "localhost"
        first, second = sb.request_log()
        assert first["host"] == f"127.0.0.1:{sb.port}" and first["status"] == 307
        assert second["host"] == f"localhost:{sb.port}" and second["moved"] is False
        # requests drops only Authorization across hosts; X-API-KEY goes along (what issue 11 is about)
        assert second["credentials"] == ["X-API-KEY"]


def _handler_threads() -> set[threading.Thread]:
    """The server's per-connection threads (ThreadingHTTPServer names them after process_request_thread)."""
    return {t for t in threading.enumerate() if "process_request_thread" in t.name}


def _all_end(threads: set[threading.Thread], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(t.is_alive() for t in threads)


def test_trickle_sends_headers_then_one_byte_at_a_time() -> None:
    with run_sandbox("crm", records=10) as sb:
        _, _, normal = raw_get(sb, "/v1/tags?limit=1")
        sb.add_fault("trickle,delay=0.1,count=1")
        url = urlsplit(sb.root_url)
        before = _handler_threads()
        sock = socket.create_connection((url.hostname, url.port), timeout=5)
        request = "GET /v1/tags?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: sandbox-key\r\n\r\n"
        sock.sendall(request.encode())
        received = b""
        started = time.monotonic()
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, _, body = received.partition(b"\r\n\r\n")
        assert b"200 OK" in head and f"Content-Length: {len(normal)}".encode() in head
        sock.settimeout(0.2)
        while time.monotonic() - started < 1.5:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            assert chunk, "the server closed early"
            body += chunk
        # about 15 bytes in 1.5 s at 0.1 s a byte; far from the whole body (generous bounds)
        assert 3 <= len(body) <= 40 < len(normal)
        assert normal.startswith(body)
        assert sb.request_log()[-1]["fault"] == "trickle"  # logged while it trickles
        trickling = _handler_threads() - before
        assert len(trickling) == 1
        sock.close()  # the client hangs up: the server's thread ends, it does not trickle on
        assert _all_end(trickling)


def test_trickle_delivers_the_whole_body_in_the_end() -> None:
    with run_sandbox("crm", records=10) as sb:
        _, _, normal = raw_get(sb, "/v1/tags?limit=1")
        sb.add_fault("trickle,delay=0.002,count=1")
        t0 = time.monotonic()
        status, _, body = raw_get(sb, "/v1/tags?limit=1")
        assert status == 200 and body == normal
        assert time.monotonic() - t0 >= 0.5 * 0.002 * len(normal)
        assert raw_get(sb, "/v1/tags?limit=1")[2] == normal  # keep-alive server carries on


def test_trickle_notices_a_hang_up_between_two_bytes() -> None:
    # 3 s a byte: a server that found out only by writing would spin on for 3-6 s after the hang-up
    with run_sandbox("crm", records=10, faults=["trickle,delay=3"]) as sb:
        before = _handler_threads()
        conn = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=10)
        conn.request("GET", "/v1/tags", headers=auth_headers("crm"))
        assert conn.getresponse().status == 200
        trickling = _handler_threads() - before
        assert len(trickling) == 1
        conn.close()
        assert _all_end(trickling, within=2.0)


def test_trickle_thread_ends_when_the_sandbox_stops() -> None:
    sb = run_sandbox("crm", records=10, faults=["trickle,delay=0.2"])
    before = _handler_threads()
    conn = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=5)
    conn.request("GET", "/v1/tags", headers=auth_headers("crm"))
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read(1)
    trickling = _handler_threads() - before
    assert len(trickling) == 1
    sb.stop()  # the client is still there
    assert _all_end(trickling)
    conn.close()


def test_echo_401_carries_the_key_raw_and_url_encoded() -> None:
    sent = "wrong+key/with=and space"
    with run_sandbox("crm", faults=["echo,count=2"]) as sb:
        r = get(sb, "/v1/tasks", headers={"Authorization": sent})
        assert r.status_code == 401
        assert r.json() == {
            "error": "unauthorized",
            "message": f"invalid key {sent} (quoted: {quote(sent, safe='')}, plus: {quote_plus(sent)})",
        }
        for form in (sent, quote(sent, safe=""), quote_plus(sent)):
            assert form in r.text
        assert get(sb, "/v1/tasks").status_code == 401  # a right key is echoed too: it is a fault
        assert get(sb, "/v1/tasks").status_code == 200
        # pad: the key lands where a 200-character excerpt cuts it
        sb.add_fault("echo,pad=140,count=1")
        text = get(sb, "/v1/tasks", headers={"Authorization": sent}).text
        at = text.index(sent)
        assert (
            text[: len('{"error": "unauthorized", "message": "')] == '{"error": "unauthorized", "message": "'
        )
        assert at == 38 + 140 + len("invalid key ") and at < 200 < at + len(sent)
    with run_sandbox("projects", faults=["echo"]) as sb:  # the Bearer token is the key
        r = get(sb, "/v1/jobs", headers={"Authorization": "Bearer tok+en"})
        assert "invalid key tok+en (quoted: tok%2Ben, plus: tok%2Ben)" in r.json()["message"]


def test_request_log_host_credentials_moved_never_values() -> None:
    with run_sandbox("leads", api_key="secret-value-1") as sb:
        headers = {
            "X-API-KEY": "secret-value-1",
            "Authorization": "Bearer secret-value-2",
            "Host": "odd.host:99",
        }
        assert raw_get(sb, "/v2/leads?limit=1", headers=headers)[0] == 200
        assert raw_get(sb, "/_moved/v2/teams", headers={})[0] == 401
        first, second = sb.request_log()
        assert (first["host"], first["credentials"], first["moved"]) == (
            "odd.host:99",
            ["Authorization", "X-API-KEY"],
            False,
        )
        assert (second["host"], second["credentials"], second["moved"]) == (f"127.0.0.1:{sb.port}", [], True)
        assert second["path"] == "/_moved/v2/teams" and second["auth_ok"] is False
        assert first["time"] <= second["time"] <= time.time()
        over_http = requests.get(sb.root_url + "/_sandbox/requests", timeout=5).json()
        assert over_http == sb.request_log()
        assert "secret-value" not in repr(over_http)


def test_fault_spec_round_trip_and_escapes() -> None:
    faults = [
        Fault(kind="redirect", status=308, location="http://h:{port}{path}?a=1,b=2\\x", count=2),
        Fault(kind="field", name="amount", value="[1, 2]", index=3),
        Fault(kind="charset", charset="utf-16", path="/v1/tasks", on_requests=[1, 3]),
        Fault(kind="trickle", delay_s=0.5, rate=0.5, seed=3),
        Fault(kind="huge", record_bytes=1000, name="name"),
        Fault(kind="echo", pad=7),
        Fault(kind="bad_byte", index=2),
        Fault(kind="status", status=429, retry_after="2"),
        Fault(kind="cycle"),
        Fault(kind="page_offsets"),
        Fault(kind="bom"),
    ]
    for fault in faults:
        assert parse_fault_spec(fault.to_spec()) == fault, fault.to_spec()
    assert faults[0].to_spec() == r"redirect,status=308,count=2,location=http://h:{port}{path}?a=1\,b=2\\x"
    assert parse_fault_spec(r"redirect,location=/a\b").location == r"/a\b"  # other backslashes stay
