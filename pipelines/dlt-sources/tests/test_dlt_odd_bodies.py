"""Issue 17 for the dlt variant (beside tests/test_odd_bodies.py for the taps), over real HTTP. dlt reads
bodies with requests: a byte order mark, a declared charset, one invalid byte (U+FFFD, with one warning
a page) and a 10 MB record arrive whole; a listing whose offsets count pages stops with one line. What it
does with numbers, recorded as it is: a number with more digits than a double holds is rounded to a
double, with one warning a page; an integer beyond 64 bits, on which dlt's writers fail the whole load,
stops the resource with one line naming it, the URL, the record and the field."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from api_sandbox import run_sandbox
from dlt_sources.__main__ import describe_error
from dlt_sources.testing import SHIFTED, extract, extract_records

# api -> (a paginated resource, its served path, a number field of it)
APIS = {
    "crm": ("opportunities", "/v1/opportunities", "amount"),
    "projects": ("jobs", "/v1/jobs", "estimated_value"),
    "leads": ("leads", "/v2/leads", "value"),
}


def requests_to(sb: Any, path: str) -> list[dict[str, Any]]:
    return [r for r in sb.request_log() if r["path"] == path]


@pytest.mark.parametrize("api", sorted(APIS))
def test_a_byte_order_mark_is_read(api: str) -> None:
    resource, path, _ = APIS[api]
    with run_sandbox(api, records=45, max_page_size=20, faults=[f"bom,path={path}"]) as sb:
        assert extract(api, sb.base_url, resource)[resource] == sb.truth(resource)
        assert {r["fault"] for r in requests_to(sb, path)} == {"bom"}


@pytest.mark.parametrize("charset", ["utf-16", "iso-8859-1", "windows-1252"])
def test_a_declared_charset_is_honoured(charset: str) -> None:
    with run_sandbox("projects", records=30, faults=[f"charset,path=/v1/jobs,charset={charset}"]) as sb:
        assert extract_records("projects", sb.base_url, "jobs")["jobs"] == sb.records("jobs")
        assert {r["fault"] for r in requests_to(sb, "/v1/jobs")} == {"charset"}


@pytest.mark.parametrize("api", sorted(APIS))
def test_one_invalid_byte_keeps_the_record_with_a_replacement_character_and_a_warning(
    api: str, caplog: pytest.LogCaptureFixture
) -> None:
    resource, path, _ = APIS[api]
    with run_sandbox(api, records=45, faults=[f"bad_byte,path={path},index=3,on=1"]) as sb:
        with caplog.at_level(logging.WARNING, logger="dlt_sources"):
            got = extract_records(api, sb.base_url, resource)[resource]
        served = sb.records(resource)
        first = requests_to(sb, path)[0]
    assert [r["id"] for r in got] == [r["id"] for r in served]
    replaced = [k for k, v in got[3].items() if v != served[3][k]]
    assert len(replaced) == 1 and got[3][replaced[0]] == "\ufffd" + served[3][replaced[0]][1:]
    warnings = [r.getMessage() for r in caplog.records if "U+FFFD" in r.getMessage()]
    assert len(warnings) == 1  # the one page with the byte
    assert warnings[0].startswith(
        f"resource {resource!r}: 1 run(s) of bytes in the response from {sb.base_url}"
    )
    assert "were not valid utf-8; each was read as U+FFFD (the records are kept)" in warnings[0]
    assert first["fault"] == "bad_byte"


def test_a_ten_megabyte_record() -> None:
    with run_sandbox("leads", records=25, faults=["huge,path=/v2/leads,index=2,on=1"]) as sb:
        got = extract_records("leads", sb.base_url, "leads")["leads"]
        assert [r["id"] for r in got] == sb.truth("leads")
    assert len(str(got[2])) > 9_000_000


@pytest.mark.parametrize("api", sorted(APIS))
def test_a_long_number_is_rounded_to_a_double_with_a_warning(
    api: str, caplog: pytest.LogCaptureFixture
) -> None:
    resource, path, field = APIS[api]
    with run_sandbox(
        api, records=30, faults=[f"field,path={path},name={field},value=1234567890.123456789"]
    ) as sb:
        with caplog.at_level(logging.WARNING, logger="dlt_sources"):
            got = extract_records(api, sb.base_url, resource)[resource]
        assert [r["id"] for r in got] == sb.truth(resource)
        pages = len(requests_to(sb, path))
    # requests parses JSON numbers as floats: the digits beyond a double's are lost, and said so.
    assert {r[field] for r in got} == {1234567890.1234567}
    assert repr(got[0][field]) == "1234567890.1234567"
    warnings = [r.getMessage() for r in caplog.records if "more digits than a double" in r.getMessage()]
    assert 1 <= len(warnings) <= pages  # one a page that holds such a number
    assert warnings[0].startswith(f"resource {resource!r}: ")
    assert warnings[0].endswith("(the first: 1234567890.123456789, loaded as 1234567890.1234567)")


def test_numbers_a_double_holds_give_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    resource, path, field = APIS["crm"]
    values = ["0.1", "1.50", "123456789.12345678", "-2.5e-10", "1e300"]
    # one fault a request: record 1 of pages 1..5 (pages of 20, each from the last record before)
    faults = [f"field,path={path},name={field},value={v},index=1,on={i + 1}" for i, v in enumerate(values)]
    with run_sandbox("crm", records=120, faults=faults) as sb, caplog.at_level(logging.WARNING):
        got = extract_records("crm", sb.base_url, resource)[resource]
        assert [r["id"] for r in got] == sb.truth(resource)
    assert [got[19 * i + 1][field] for i in range(len(values))] == [float(v) for v in values]
    assert not [r for r in caplog.records if "double" in r.getMessage()]


@pytest.mark.parametrize("value", ["1e400", "0.12345678901234567890"])
def test_a_number_out_of_a_doubles_range_or_precision_is_warned_of(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    resource, path, field = APIS["crm"]
    with run_sandbox(
        "crm", records=10, faults=[f"field,path={path},name={field},value={value},index=2"]
    ) as sb:
        with caplog.at_level(logging.WARNING, logger="dlt_sources"):
            got = extract_records("crm", sb.base_url, resource)[resource]
        assert [r["id"] for r in got] == sb.truth(resource)
    warnings = [r.getMessage() for r in caplog.records if "more digits than a double" in r.getMessage()]
    assert warnings and f"(the first: {value}, loaded as {float(value)!r})" in warnings[0]


@pytest.mark.parametrize("value", ["18446744073709551621", "9223372036854775808", "-9223372036854775809"])
def test_an_id_beyond_64_bits_stops_the_resource_with_one_clear_line(value: str) -> None:
    with (
        run_sandbox(
            "crm", records=30, faults=[f"field,path=/v1/tasks,name=id,value={value},index=1,on=2"]
        ) as sb,
        pytest.raises(Exception) as caught,
    ):
        extract("crm", sb.base_url, "tasks")
    assert describe_error(caught.value, "crm") == (
        f"error: resource 'tasks': the response from {sb.base_url}/v1/tasks?offset=19&limit=20 holds "
        f"{value} in record 1 at 'id', an integer beyond 64 bits, which dlt cannot load (its writers fail "
        "the whole load on it)"
    )


def test_the_widest_64_bit_integers_pass() -> None:
    faults = [
        "field,path=/v1/tasks,name=id,value=9223372036854775807,index=1,on=1",
        "field,path=/v1/tasks,name=owner_id,value=-9223372036854775808,index=2,on=2",  # one fault a request
    ]
    with run_sandbox("crm", records=30, faults=faults) as sb:
        got = extract_records("crm", sb.base_url, "tasks")["tasks"]
    # the second page starts at offset 19 (the first page's last record, read again): index 2 is record 21
    assert got[1]["id"] == 2**63 - 1 and got[21]["owner_id"] == -(2**63)


@pytest.mark.parametrize("records", [2, 45, 500])
def test_offsets_that_count_pages_stop_the_resource_with_one_clear_line(records: int) -> None:
    # Offset 0 is page 0; the next request, at the first page's last record (offset 1 or 19), gets page
    # 1 or 19: empty, or records far on. Either way not the record expected, so the resource stops
    # instead of skipping (45 records: 25 would be lost without a word; 500: 360 of them).
    with run_sandbox("crm", records=records, faults=["page_offsets,path=/v1/tasks"]) as sb:
        with pytest.raises(Exception) as caught:
            extract("crm", sb.base_url, "tasks")
        last = sb.truth("tasks")[min(records, 20) - 1]
        offsets = [r["query"]["offset"] for r in requests_to(sb, "/v1/tasks")]
    at = min(records, 20) - 1
    assert offsets == ["0", str(at)]
    line = describe_error(caught.value, "crm")
    assert line.startswith(
        f"error: resource 'tasks': stopped at offset {at}: expected the page there to begin with record "
        f"id {last}, the last of the page before, and got "
    )
    assert line.endswith(SHIFTED)
