"""How fast does the sandbox serve records? One keep-alive http.client client on loopback.

    .venv/bin/python sandbox/bench_sandbox.py [--api crm] [--records 200000] [--page 1000]

Prints records/s for a cold pass (records rendered on first read) and a warm pass (served from the cache).
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from urllib.parse import urlsplit

from api_sandbox import run_sandbox

HEADERS = {
    "crm": {"Authorization": "sandbox-key"},
    "projects": {"Authorization": "Bearer sandbox-key"},
    "leads": {"X-API-KEY": "sandbox-key"},
}
RESOURCE = {"crm": "tasks", "projects": "activities", "leads": "leads"}


def one_pass(
    conn: http.client.HTTPConnection,
    path: str,
    offset_param: str,
    size_param: str,
    page: int,
    headers: dict[str, str],
    parse: bool,
) -> tuple[int, int, float]:
    offset = records = nbytes = 0
    t0 = time.perf_counter()
    while True:
        conn.request("GET", f"{path}?{offset_param}={offset}&{size_param}={page}", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, resp.status
        nbytes += len(body)
        # count records without parsing: one top-level object per record, separated by "},{" at depth 1
        n = len(next(iter(json.loads(body).values()))) if parse else _count(body)
        if n == 0:
            break
        records += n
        offset += n
    return records, nbytes, time.perf_counter() - t0


def _count(body: bytes) -> int:
    return 0 if body.endswith(b"[]}") else body.count(b',"created_at":')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", default="crm", choices=sorted(HEADERS))
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--page", type=int, default=1000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with run_sandbox(args.api, records=args.records) as sb:
        print(f"start-up: {time.perf_counter() - t0:.3f} s for {args.records} records per resource")
        spec = sb.resource(RESOURCE[args.api])
        assert spec.offset_param and spec.size_param
        url = urlsplit(sb.root_url)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port)
        for label, parse in (("cold", False), ("warm", False), ("warm+json.loads", True)):
            n, nbytes, dt = one_pass(
                conn, spec.path, spec.offset_param, spec.size_param, args.page, HEADERS[args.api], parse
            )
            print(
                f"{label:>16}: {n} records of {spec.path} in {dt:.3f} s = {n / dt:,.0f} records/s, "
                f"{nbytes / dt / 1e6:,.0f} MB/s, {nbytes / n:.0f} B/record"
            )
        conn.close()


if __name__ == "__main__":
    main()
