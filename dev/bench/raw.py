"""The raw limit: the least a Python client can do to turn the pages into Singer RECORD lines.

One keep-alive ``requests.Session``, one page after another, ``orjson`` both ways, one write per
page. No schema, no conformance, no retries. ``python -m bench.raw BASE_URL PATH SELECTOR PAGE_SIZE
[SIZE_PARAM]`` writes the lines to stdout and ``records N`` to stderr.
"""

from __future__ import annotations

import datetime
import sys

import orjson
import requests


def main(argv: list[str]) -> int:
    base_url, path, selector, page_size_s = argv[:4]
    size_param = argv[4] if len(argv) > 4 else "size"
    page_size = int(page_size_s)
    url = base_url.rstrip("/") + path
    out = sys.stdout.buffer
    session = requests.Session()
    session.headers["Authorization"] = "Bearer sandbox-key"
    head = b'{"type":"RECORD","stream":"' + path.rsplit("/", 1)[-1].encode() + b'","record":'
    offset = 0
    while True:
        response = session.get(url, params={"from": offset, size_param: page_size})
        response.raise_for_status()
        records = orjson.loads(response.content)[selector]
        if not records:
            break
        now = datetime.datetime.now(datetime.UTC).isoformat().encode()
        tail = b',"time_extracted":"' + now + b'"}\n'
        out.write(b"".join(head + orjson.dumps(r) + tail for r in records))
        out.flush()
        offset += len(records)
    print(f"records {offset}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
