"""6. Decoding a page: the taps' fast path before exact numbers (orjson: floats as doubles, integers
beyond 64 bits as floats) and after, on the same pages in the same run. Each system reads the page body,
takes the records under the selector and gives each record's JSON for its RECORD line. After, two ways:
the taps' own (tapkit.typed: the page read into the stream's schema with msgspec, each record's bytes
kept as they came, so its numbers keep every digit and nothing is encoded again; what tap-projects does
with a jobs page that fits its schema) and the general one for a page that does not fit (msgspec, every
float a Decimal with its digits, integers of any size, encoded again). The slow road (a byte order mark,
so the fast decoder refuses the body) is shown beside them. Exactness is not free: the target says how
much of this step it may cost the taps.
"""

from __future__ import annotations

import statistics
import time
import typing as t

import orjson
import requests

from api_sandbox import run_sandbox
from bench.results import Report, Row, log
from bench.sizes import Sizes
from tap_projects.tap import TapProjects
from tapkit.body import decode_json
from tapkit.typed import TypedPages
from tapkit.writer import dumps_record

RESOURCE, PATH, SELECTOR, PAGE = "jobs", "/v1/jobs", "results", 1000
TAPS = "after, the taps' way: read into the schema (msgspec), bytes as they came"


def _before(body: bytes) -> list[bytes]:
    records = orjson.loads(body)[SELECTOR]
    return [orjson.dumps(r) for r in records]


def _after(body: bytes) -> list[bytes]:
    records = decode_json(body, "application/json").value[SELECTOR]
    return list(map(dumps_record, records))


def _taps_way() -> t.Callable[[bytes], list[bytes]]:
    """The taps' fast path for a page of `jobs`: read into the stream's schema, each record's bytes."""
    config = {"api_key": "unused", "base_url": "http://127.0.0.1:9"}
    tap = TapProjects(config=config, validate_config=False, setup_mapper=False)
    stream = tap.streams[RESOURCE]
    pages = TypedPages.of(stream.effective_schema, SELECTOR, stream.primary_keys or [])
    assert pages is not None, f"the {RESOURCE} schema is not read the typed way"

    def read(body: bytes) -> list[bytes]:
        records = pages.read(body)
        assert records is not None, "a page of the sandbox does not fit the stream's schema"
        return records[1]

    return read


def _pages(base_url: str, total: int) -> list[bytes]:
    session = requests.Session()
    session.headers["Authorization"] = "Bearer sandbox-key"
    return [
        session.get(f"{base_url}{PATH}", params={"from": offset, "limit": PAGE}).content
        for offset in range(0, total, PAGE)
    ]


def bench_decoding(report: Report, sizes: Sizes, runs: int) -> None:
    total = max(sizes.throughput // 4, PAGE)
    benchmark = f"6. decoding: {total:,} {RESOURCE} in pages of {PAGE:,}, read and written back, in process"
    log(benchmark)
    with run_sandbox("projects", records=total) as sb:
        pages = _pages(sb.base_url, total)
    odd = [b"\xef\xbb\xbf" + page for page in pages]  # a byte order mark: the slow road
    systems: dict[str, tuple[t.Callable[[bytes], list[bytes]], list[bytes]]] = {
        "before: orjson (doubles)": (_before, pages),
        TAPS: (_taps_way(), pages),
        "after, a page that does not fit: msgspec (exact decimals, encoded again)": (_after, pages),
        "after, slow road (a BOM on every page)": (_after, odd),
    }
    rates: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(max(runs, 3)):
        for name, (decode, bodies) in systems.items():  # interleaved: the machine's noise hits all alike
            started = time.perf_counter()
            count = sum(len(decode(body)) for body in bodies)
            rates[name].append(count / (time.perf_counter() - started))
            assert count == total, f"{name}: {count} of {total} records"
    median = {name: statistics.median(values) for name, values in rates.items()}
    before = median["before: orjson (doubles)"]
    for name, rate in median.items():
        report.rows.append(
            Row(
                benchmark,
                name,
                f"{total:,}/{total:,}",
                "",
                f"{rate:,.0f} rec/s ({rate / before:.2f}x before)",
            )
        )
    after = median[TAPS]
    report.target(
        benchmark,
        "after (the taps' way) / before",
        after / before,
        f"{after / before:.2f}x",
        ">= 0.9x",
        after >= 0.9 * before,
    )
