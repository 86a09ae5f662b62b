"""Data shapes of real listings: repeated ids, a cycling listing that never ends, offsets that count pages."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from sandbox_testlib import get, ids

from api_sandbox import Fault, Sandbox, run_sandbox


def page_through(sb: Sandbox, path: str, selector: str, size: int) -> list[Any]:
    seen: list[Any] = []
    offset = 0
    while page := ids(get(sb, path, {"offset": offset, "limit": size}), selector):
        seen += page
        offset += len(page)
    return seen


@pytest.mark.parametrize("api,name,path", [("crm", "tasks", "/v1/tasks"), ("leads", "leads", "/v2/leads")])
def test_repeat_ids_follow_served_position(api: str, name: str, path: str) -> None:
    with run_sandbox(api, records=60, repeat_ids=(9, 6)) as sb, run_sandbox(api, records=60) as plain:
        truth = sb.truth(name)
        original = plain.truth(name)
        assert len(truth) == 60
        for i, rid in enumerate(truth):
            p = i + 1
            assert rid == (original[i - 6] if p % 9 == 0 else original[i]), p
        assert len(set(truth)) == 60 - 60 // 9  # ids 90, 180, ... are never served
        # served order, whatever the page size: a function of the position
        for size in (7, 9, 1000):
            assert page_through(sb, path, "data", size) == truth
        served = get(sb, path, {"limit": 1000}).json()["data"]
        assert served == sb.records(name)
        for i in range(8, 60, 9):  # position p = i + 1, a multiple of 9
            repeat, first = served[i], served[i - 6]
            assert repeat["id"] == first["id"]
            assert {k: v for k, v in repeat.items() if k != "id"} != {
                k: v for k, v in first.items() if k != "id"
            }
            # everything but the id is the record's own (as served without repeats)
            own = plain.records(name)[i]
            assert {k: v for k, v in repeat.items() if k != "id"} == {
                k: v for k, v in own.items() if k != "id"
            }
        assert sb.stable_ids(name) == truth  # no churn: the same
        # non-paginated resources are left alone
        other = next(s for s in sb.resources if not s.paginated)
        assert sb.truth(other.name) == plain.truth(other.name)


def test_repeat_ids_under_churn_follow_the_current_listing() -> None:
    with run_sandbox("crm", records=80, repeat_ids=(9, 6), churn=1.0, seed=4) as sb:
        for offset in (0, 5, 30, 60):
            before = sb.truth("tasks")
            page = ids(get(sb, "/v1/tasks", {"offset": offset, "limit": 20}), "data")
            assert page == before[offset : offset + 20]  # the page shows the listing before its churn step
            after = sb.truth("tasks")
            assert after != before
            keys = [r["id"] for r in sb.records("tasks")]
            assert keys == after
            for i in range(8, len(after), 9):
                assert after[i] == after[i - 6]


def test_repeat_ids_validation() -> None:
    for bad in ((9, 9), (9, 0), (3, 5)):
        with pytest.raises(ValueError, match="repeat_ids"):
            run_sandbox("crm", repeat_ids=bad)


def test_cycle_ignores_offset_and_wraps_for_ever() -> None:
    with run_sandbox("crm", records=25, faults=[Fault(kind="cycle", path="/v1/tasks")]) as sb:
        truth = sb.truth("tasks")
        windows = [
            ids(get(sb, "/v1/tasks", {"offset": offset, "limit": 10}), "data")
            for offset in (0, 10, 0, 500, 3)
        ]
        expected = [[truth[(start + i) % 25] for i in range(10)] for start in range(0, 50, 10)]
        assert windows == expected  # full pages for ever: 0-9, 10-19, 20-24+0-4, 5-14, 15-24
        assert all(len(w) == 10 for w in windows)
        # a page size beyond the listing: the window repeats records to stay full
        big = ids(get(sb, "/v1/tasks", {"limit": 40}), "data")
        assert big == [truth[(50 + i) % 25] for i in range(40)]
        # other paths page normally
        assert ids(get(sb, "/v1/users", {"offset": 20, "limit": 10}), "data") == sb.truth("users")[20:25]
        assert [e["fault"] for e in sb.request_log()][:5] == ["cycle"] * 5


def test_cycle_from_spec_counts_and_reset() -> None:
    with run_sandbox("projects", records=12, faults=["cycle,path=/v1/tasks,count=3"]) as sb:
        truth = sb.truth("tasks")
        got = [ids(get(sb, "/v1/tasks", {"from": 0, "size": 5}), "results") for _ in range(4)]
        assert got == [truth[0:5], truth[5:10], truth[10:12] + truth[0:3], truth[0:5]]  # count used up
        sb.reset()
        sb.add_fault("cycle,path=/v1/tasks")
        assert ids(get(sb, "/v1/tasks", {"from": 7, "size": 5}), "results") == truth[0:5]


def test_page_offsets_count_pages() -> None:
    with run_sandbox("crm", records=2, faults=["page_offsets,path=/v1/tasks"]) as sb:
        assert len(ids(get(sb, "/v1/tasks", {"offset": 0, "limit": 20}), "data")) == 2
        r = get(sb, "/v1/tasks", {"offset": 1, "limit": 20})
        assert r.status_code == 200 and r.json() == {"data": []}
    with run_sandbox("crm", records=45, faults=["page_offsets"]) as sb:
        truth = sb.truth("tasks")
        assert ids(get(sb, "/v1/tasks", {"offset": 1, "limit": 20}), "data") == truth[20:40]
        assert ids(get(sb, "/v1/tasks", {"offset": 2, "limit": 20}), "data") == truth[40:45]
        assert ids(get(sb, "/v1/tasks", {"offset": 3, "limit": 20}), "data") == []
        assert get(sb, "/v1/tasks", {"offset": "x"}).status_code == 400


def test_shapes_from_the_control_endpoint() -> None:
    with run_sandbox("leads", records=30) as sb:
        r = requests.post(sb.root_url + "/_sandbox/faults", json=[{"kind": "cycle", "path": "/v2/leads"}])
        assert r.status_code == 201
        truth = sb.truth("leads")
        assert ids(get(sb, "/v2/leads", {"offset": 25, "limit": 20}), "data") == truth[:20]
        assert ids(get(sb, "/v2/leads", {"offset": 25, "limit": 20}), "data") == truth[20:] + truth[:10]
