"""Issue 17 over real HTTP, for the three taps: bodies read as the API meant them. A byte order mark,
another charset, one invalid byte, a 10 MB record: every id arrives. Numbers with more digits than a
double holds and ids beyond 64 bits are written with the digits the API sent. A listing whose offsets
count pages ends in bounded requests with a clear error."""

from __future__ import annotations

import pytest
from taps import TAPS

from api_sandbox import run_sandbox
from tapkit.testing import run_tap, tap_config

ALL = sorted(TAPS)


def assert_every_id(run, sb):
    assert run.returncode == 0, run.stderr[-3000:]
    for stream, ids in sb.truth().items():
        assert run.ids(stream) == ids, stream


@pytest.mark.parametrize("api", ALL)
def test_a_byte_order_mark_is_dropped(api):
    t = TAPS[api]
    faults = [f"bom,path={t.paged_path}"] + ([f"bom,path={t.single_path}"] if t.single else [])
    with run_sandbox(api, records=45, max_page_size=10, faults=faults) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url))
        assert_every_id(run, sb)
        assert {r["fault"] for r in sb.request_log() if r["path"] == t.paged_path} == {"bom"}


@pytest.mark.parametrize("charset", ["utf-16", "iso-8859-1", "windows-1252"])
def test_a_declared_charset_is_honoured(charset):
    t = TAPS["projects"]
    with run_sandbox("projects", records=30, faults=[f"charset,path={t.paged_path},charset={charset}"]) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url))
        assert_every_id(run, sb)
        assert run.records(t.paged) == sb.records(t.paged)  # accents, CJK and emoji intact


@pytest.mark.parametrize("api", ALL)
def test_one_invalid_byte_keeps_the_record_and_says_so(api):
    t = TAPS[api]
    with run_sandbox(api, records=45, faults=[f"bad_byte,path={t.paged_path},index=3,on=1"]) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url, max_concurrency=1))
        assert_every_id(run, sb)
        hit = run.records(t.paged)[3]
        served = sb.records(t.paged)[3]
        replaced = [k for k, v in hit.items() if v != served[k]]
        assert len(replaced) == 1 and hit[replaced[0]] == "\ufffd" + served[replaced[0]][1:]
    warnings = [line for line in run.stderr.splitlines() if "U+FFFD" in line]
    assert len(warnings) == 1, run.stderr[-3000:]
    assert f"stream '{t.paged}'" in warnings[0] and "1 byte(s)" in warnings[0]
    assert "offset=0" in warnings[0] or "from=0" in warnings[0]


def test_strict_decoding_makes_an_invalid_byte_an_error():
    t = TAPS["crm"]
    with run_sandbox("crm", records=45, faults=[f"bad_byte,path={t.paged_path},index=3,on=2"]) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url, max_concurrency=1, strict_decoding=True))
        assert run.returncode == 1
    assert "not JSON" in run.errors[-1] and "1 bytes are not valid utf-8" in run.errors[-1]
    assert f"stream '{t.paged}'" in run.errors[-1]


@pytest.mark.parametrize("api", ALL)
def test_a_ten_megabyte_record(api):
    t = TAPS[api]
    with run_sandbox(api, records=25, faults=[f"huge,path={t.paged_path},index=2,on=1"]) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url))
        assert_every_id(run, sb)
        assert max(len(str(r)) for r in run.records(t.paged)) > 9_000_000


@pytest.mark.parametrize("api", ALL)
def test_long_numbers_and_big_ids_keep_every_digit(api):
    t = TAPS[api]
    # The leads API's ids are strings (every leads schema declares id a string): there a big id is a string
    # of digits; a number in their place is a key changing its type, which the tap refuses (test_drift_probe).
    big_id = '"18446744073709551621"' if api == "leads" else "18446744073709551621"
    faults = [
        f"field,path={t.number_path},name={t.number_field},value=1234567890.123456789",
        f"field,path={t.id_path},name=id,value={big_id},index=1,on=1",
    ]
    with run_sandbox(api, records=30, faults=faults) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url, max_concurrency=1))
        assert run.returncode == 0, run.stderr[-3000:]
    amounts = [
        line.split(f'"{t.number_field}":', 1)[1].split(",", 1)[0]
        for line in run.stdout.splitlines()
        if line.startswith(f'{{"type":"RECORD","stream":"{t.number_stream}"')
    ]
    assert amounts and set(amounts) == {"1234567890.123456789"}
    ids = t.ids_in(run.stdout, t.id_stream)
    assert ids[1] == big_id  # not 1.8446744073709552e+19
    assert len(ids) == len(sb.truth(t.id_stream))


@pytest.mark.parametrize("api", ALL)
def test_offsets_that_count_pages_end_in_bounded_requests_with_a_clear_error(api):
    # Two records: the page at offset 1 is page 1, empty; looking back finds them again, and so on.
    t = TAPS[api]
    with run_sandbox(api, records=2, faults=[f"page_offsets,path={t.paged_path}"]) as sb:
        run = run_tap(t.tap, tap_config(sb.base_url, max_concurrency=1))
        assert run.returncode == 1
        requests = [r for r in sb.request_log() if r["path"] == t.paged_path]
    assert len(requests) <= 40
    assert (
        f"stream '{t.paged}'" in run.errors[-1]
        and "requests in a row brought no new record" in run.errors[-1]
    )
    assert "Traceback" not in run.stderr
