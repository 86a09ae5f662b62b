"""The reader's classifier (loaderkit.reader.BulkReader.classify): where each input line goes, and the
Chunker's runs of one stream's records; in process, without a database."""

from __future__ import annotations

import io

from loaderkit.reader import NOWHERE, TO_A_SPOOL, TO_THE_SDK, BulkReader, FastStream

taken: list[tuple[str, list[bytes]]] = []


def fast(name: str) -> FastStream:
    return FastStream(lambda records, data: taken.append((name, records)), (b'"id"',))


def reader(*fast_streams: str) -> tuple[BulkReader, list[str]]:
    looked_up: list[str] = []

    def route(name: str) -> FastStream | None:
        looked_up.append(name)
        return fast(name) if name in fast_streams else None

    return BulkReader(route=route), looked_up


def rec(stream: str, record: str) -> bytes:
    return f'{{"type":"RECORD","stream":"{stream}","record":{record}}}'.encode()


def test_where_each_line_goes() -> None:
    r, _ = reader("a")
    assert r.classify(b"   ")[0] is NOWHERE
    assert r.classify(b"not json")[0] is TO_THE_SDK
    assert r.classify(b'{"type":"STATE","value":{}}')[0] is TO_THE_SDK
    assert r.classify(rec("b", '{"id":1}'))[0] is TO_THE_SDK  # its stream has no fast path
    assert r.classify(rec("a", '{"name":"no key"}'))[0] is TO_THE_SDK
    assert r.classify(rec("a", "[1]"))[0] is TO_THE_SDK
    goes, stream, record = r.classify(rec("a", '{"id":1, "x":"y"}'))
    assert goes is TO_A_SPOOL and stream is not None and record == b'{"id":1, "x":"y"}'
    assert BulkReader().classify(rec("a", '{"id":1}'))[0] is TO_THE_SDK  # no route: no fast path


def test_a_stream_is_looked_up_once_until_a_message_that_is_not_a_record() -> None:
    r, looked_up = reader("a")
    for line in [rec("a", '{"id":1}'), rec("a", '{"id":2}'), b'{"type":"SCHEMA"}', rec("a", '{"id":3}')]:
        r.classify(line)
    assert looked_up == ["a", "a"]


def test_records_are_spooled_in_runs_of_one_stream_in_input_order() -> None:
    taken.clear()
    r, _ = reader("a", "b")
    lines = [rec("a", '{"id":1}'), rec("a", '{"id":2}'), rec("b", '{"id":3}'), b"", rec("a", '{"x":0}')]
    lines += [b'{"type":"STATE","value":{}}', rec("a", '{"id":4}')]
    for_the_sdk = list(r._lines_for_the_sdk(io.BytesIO(b"\n".join(lines) + b"\n")))
    assert for_the_sdk == [rec("a", '{"x":0}'), b'{"type":"STATE","value":{}}']
    assert taken == [("a", [b'{"id":1}', b'{"id":2}']), ("b", [b'{"id":3}']), ("a", [b'{"id":4}'])]
    assert r.fast_records == 4 and r.line_number == 6
