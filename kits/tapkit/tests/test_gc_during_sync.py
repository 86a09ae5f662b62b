"""A stream's records are read with the process's objects of before frozen out of the cyclic garbage
collector and a higher young-generation threshold (tapkit.collector); both are as they were after."""

from __future__ import annotations

import gc
import typing as t

from api_sandbox import run_sandbox
from tap_crm.streams import TasksStream
from tap_crm.tap import TapCRM
from tapkit.collector import SYNC_THRESHOLD as SYNC_GC_THRESHOLD
from tapkit.testing import tap_config

seen: list[tuple[int, tuple[int, ...]]] = []


class WatchedTasks(TasksStream):
    def iter_pages(self, context: t.Any) -> t.Iterator[t.Any]:
        for page in super().iter_pages(context):
            seen.append((gc.get_freeze_count(), gc.get_threshold()))
            yield page


class WatchedTap(TapCRM):
    stream_types = [WatchedTasks]


def test_the_collector_is_set_for_the_sync_and_restored_after(capsys):
    seen.clear()
    before = (gc.get_freeze_count(), gc.get_threshold())
    assert before[0] == 0 and before[1][0] < SYNC_GC_THRESHOLD
    with run_sandbox("crm", records=45) as sb:
        WatchedTap(config=tap_config(sb.base_url, max_concurrency=1)).sync_all()
    assert '"type":"RECORD"' in capsys.readouterr().out
    assert seen, "no page was read"
    for frozen, thresholds in seen:
        assert frozen > 0
        assert thresholds == (SYNC_GC_THRESHOLD, *before[1][1:])
    assert (gc.get_freeze_count(), gc.get_threshold()) == before
