"""The fast path writes a record that conformance leaves unchanged as the bytes it came in (tapkit.body's
RawSlices): what it writes is still exactly the records the API sent, one line each, whatever whitespace
the API puts between tokens; a record conformance changes is conformed and encoded as before."""

from __future__ import annotations

import http.server
import socket
import threading
import typing as t
import urllib.request
from contextlib import contextmanager

import msgspec
from taps import TAPS

from api_sandbox import run_sandbox
from tapkit.testing import run_tap, tap_config

T = TAPS["projects"]


@contextmanager
def reformatting(base_url: str, indent: int) -> t.Iterator[str]:
    """A server in front of ``base_url`` that sends every body with its whitespace redone
    (``msgspec.json.format``: 0 puts a space after each ``:`` and ``,``, 2 one token a line)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            request = urllib.request.Request(base_url + self.path, headers=dict(self.headers))
            with urllib.request.urlopen(request) as upstream:
                body = msgspec.json.format(upstream.read(), indent=indent)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: t.Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def record_lines(stdout: str, stream: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(f'{{"type":"RECORD","stream":"{stream}"')]


def test_records_go_out_as_the_api_sent_them():
    """Spaces between tokens survive into the lines: the bytes were written, not re-encoded."""
    with run_sandbox("projects", records=60) as sb, reformatting(sb.base_url, indent=0) as url:
        run = run_tap(T.tap, tap_config(url, max_concurrency=2))
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.records(T.paged) == sb.records(T.paged)
        lines = record_lines(run.stdout, T.paged)
        assert lines and all('"record":{"id": ' in line for line in lines), lines[0]


def test_a_body_with_line_breaks_between_tokens_is_encoded_one_record_a_line():
    with run_sandbox("projects", records=60) as sb, reformatting(sb.base_url, indent=2) as url:
        run = run_tap(T.tap, tap_config(url, max_concurrency=2))
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.records(T.paged) == sb.records(T.paged)
        lines = record_lines(run.stdout, T.paged)
        assert lines and all('"record":{"id":' in line for line in lines), lines[0]


def test_without_the_contract_check_records_are_conformed_and_encoded():
    """discard_value runs no page check, so nothing tells the page fits: every record is encoded."""
    with run_sandbox("projects", records=60) as sb, reformatting(sb.base_url, indent=0) as url:
        run = run_tap(T.tap, tap_config(url, schema_contract="discard_value"))
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.records(T.paged) == sb.records(T.paged)
        assert all('"record":{"id":' in line for line in record_lines(run.stdout, T.paged))


def test_every_stream_of_the_three_taps_is_read_into_its_schema_types():
    """A page that goes out as sent is read into the schema's types (tapkit.typed), a third of the cost of
    dicts and the page check: a schema that loses that reader silently loses the speed."""
    from tap_crm.tap import TapCRM
    from tap_leads.tap import TapLeads
    from tap_projects.tap import TapProjects
    from tapkit.typed import TypedPages

    for tap_class in (TapCRM, TapLeads, TapProjects):
        tap = tap_class(config={"api_key": "k"}, parse_env_config=False, validate_config=False)
        for stream in tap.streams.values():
            reader = TypedPages.of(stream.schema, stream.data_selector, stream.primary_keys)
            assert reader is not None, f"{tap.name} {stream.name}"
