"""The raw limits: the least a Python client can do to turn the pages into Singer RECORD lines.

Two loops, no schema, no conformance, no retries, one write per page:

- ``sequential``: one keep-alive ``requests.Session``, one page after another, ``orjson`` both ways;
- ``msgspec8``: 8 pages in flight (a thread and a keep-alive session each, pages written in order),
  ``msgspec`` both ways: the honest ceiling for a Python client.

``python -m bench.raw MODE BASE_URL PATH SELECTOR PAGE_SIZE SIZE_PARAM`` writes the lines to stdout and
``records N pages P`` to stderr. ``SIZE_PARAM`` is the resource's page-size parameter (``-`` for none:
the API's default page size). Each page but the last must hold ``PAGE_SIZE`` records, else the loop
stops with one line saying so: it measures the page size it claims, or nothing.
"""

from __future__ import annotations

import datetime
import sys
import threading
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import requests

IN_FLIGHT = 8
MODES = ("sequential", "msgspec8")


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer sandbox-key"
    return session


def _sequential_pages(get: Callable[[int], bytes], page_size: int) -> Generator[bytes, None, None]:
    offset = 0
    while True:
        body = get(offset)
        yield body
        offset += page_size


def _pages_in_flight(get: Callable[[int], bytes], page_size: int) -> Generator[bytes, None, None]:
    """Pages at offsets 0, size, 2*size, ... with ``IN_FLIGHT`` requests open, yielded in order."""
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        ahead: deque[Future[bytes]] = deque(pool.submit(get, i * page_size) for i in range(IN_FLIGHT))
        next_page = IN_FLIGHT
        try:
            while True:
                body = ahead.popleft().result()
                ahead.append(pool.submit(get, next_page * page_size))
                next_page += 1
                yield body
        finally:
            for f in ahead:
                f.cancel()


def main(argv: list[str]) -> int:
    if len(argv) != 6 or argv[0] not in MODES:
        print(f"usage: python -m bench.raw {{{','.join(MODES)}}} BASE_URL PATH SELECTOR PAGE_SIZE SIZE_PARAM")
        return 2
    mode, base_url, path, selector, page_size_s, size_param = argv
    page_size = int(page_size_s)
    url = base_url.rstrip("/") + path
    local = threading.local()

    def get(offset: int) -> bytes:
        session = getattr(local, "session", None) or _session()
        local.session = session
        params: dict[str, Any] = {"from": offset}
        if size_param != "-":
            params[size_param] = page_size
        response = session.get(url, params=params)
        response.raise_for_status()
        return response.content

    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]
    if mode == "sequential":
        import orjson

        decode, encode, pages = orjson.loads, orjson.dumps, _sequential_pages(get, page_size)
    else:
        import msgspec

        decoder, encoder = msgspec.json.Decoder(), msgspec.json.Encoder()
        decode, encode, pages = decoder.decode, encoder.encode, _pages_in_flight(get, page_size)
    head = b'{"type":"RECORD","stream":"' + path.rsplit("/", 1)[-1].encode() + b'","record":'
    try:
        total, count = _write(pages, decode, encode, selector, page_size, head)
    except ValueError as exc:
        print(f"raw loop: {path}: {exc}", file=sys.stderr)
        return 1
    finally:
        pages.close()
    print(f"records {total} pages {count}", file=sys.stderr)
    return 0


def _write(
    pages: Generator[bytes, None, None],
    decode: Callable[[bytes], Any],
    encode: Callable[[Any], bytes],
    selector: str,
    page_size: int,
    head: bytes,
) -> tuple[int, int]:
    """Write every page's records as RECORD lines until the first empty page: (records, pages)."""
    out = sys.stdout.buffer
    total = count = 0
    short = None
    for body in pages:
        records = decode(body)[selector]
        if not records:
            break
        if short is not None:
            raise ValueError(f"page {short} held fewer than {page_size} records, and more came after it")
        if len(records) != page_size:
            short = count
        now = datetime.datetime.now(datetime.UTC).isoformat().encode()
        tail = b',"time_extracted":"' + now + b'"}\n'
        out.write(b"".join([head + encode(r) + tail for r in records]))
        out.flush()
        total += len(records)
        count += 1
    return total, count


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
