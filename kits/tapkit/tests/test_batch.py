"""BATCH syncs (``batch_config``) over real HTTP: files written a page at a time by the fast path, STATE
after each file that covers exactly the files announced, so a BATCH sync killed at any moment resumes
where its last file ended and loses nothing."""

from __future__ import annotations

import gzip
import json
import os
import signal
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from api_sandbox import run_sandbox
from tapkit.testing import BIN, run_tap, tap_config


def batch_config(root: Path, size: int, compression: str = "gzip") -> dict:
    return {
        "encoding": {"format": "jsonl", "compression": compression},
        "storage": {"root": root.as_uri()},
        "batch_size": size,
    }


def records_in(message: dict) -> list[dict]:
    out = []
    for url in message["manifest"]:
        path = Path(urlsplit(url).path)
        opener = gzip.open if message["encoding"]["compression"] == "gzip" else open
        with opener(path, "rt") as f:
            out += [json.loads(line) for line in f]
    return out


def test_batch_files_hold_every_record_once_and_state_follows_each_file(tmp_path):
    with run_sandbox("crm", records=95) as sb:
        config = tap_config(sb.base_url, max_concurrency=1, batch_config=batch_config(tmp_path, 40))
        run = run_tap("tap-crm", config)
        assert run.returncode == 0, run.stderr[-2000:]
        assert not [m for m in run.messages if m["type"] == "RECORD"]
        tasks_files = [m for m in run.messages if m["type"] == "BATCH" and m["stream"] == "tasks"]
        ids = [r["id"] for m in tasks_files for r in records_in(m)]
        assert ids == sb.truth("tasks")
        # 95 records in pages of 20 (19 new each with the overlap): files close after the page that
        # passes 40 records, so no file splits a page; the last holds the rest.
        assert [len(records_in(m)) for m in tasks_files] == [58, 37]
        # Every STATE says how far the files announced before it go, and nothing further: a STATE
        # ahead of the files would let a killed sync skip the records of the file being written.
        written = 0
        for message in run.messages:
            if message["type"] == "BATCH" and message["stream"] == "tasks":
                written += len(records_in(message))
            if message["type"] == "STATE":
                resume = message["value"]["bookmarks"].get("tasks", {}).get("resume")
                assert resume is None or resume["offset"] == written, (resume, written)
        assert "resume" not in run.states[-1]["bookmarks"]["tasks"]
        for stream, truth in sb.truth().items():
            got = [
                r["id"]
                for m in run.messages
                if m["type"] == "BATCH" and m["stream"] == stream
                for r in records_in(m)
            ]
            assert got == truth, stream


def test_uncompressed_batch_files(tmp_path):
    with run_sandbox("leads", records=30) as sb:
        run = run_tap("tap-leads", tap_config(sb.base_url, batch_config=batch_config(tmp_path, 1000, "none")))
        assert run.returncode == 0, run.stderr[-2000:]
        leads = [m for m in run.messages if m["type"] == "BATCH" and m["stream"] == "leads"]
        assert all(url.endswith(".json") for m in leads for url in m["manifest"])
        assert [r["id"] for m in leads for r in records_in(m)] == sb.truth("leads")


def test_batch_sync_killed_mid_stream_resumes_after_its_last_file(tmp_path):
    with run_sandbox("crm", records=400, latency_ms=5) as sb:
        config = tap_config(sb.base_url, max_concurrency=2, batch_config=batch_config(tmp_path, 30))
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        proc = subprocess.Popen(
            [str(BIN / "tap-crm"), "--config", str(path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert proc.stdout is not None
        messages, batches = [], 0
        for line in proc.stdout:
            messages.append(json.loads(line))
            if messages[-1]["type"] == "BATCH" and messages[-1]["stream"] == "tasks":
                batches += 1
                if batches == 3:  # the files of tasks are being written: kill -9 now
                    proc.send_signal(signal.SIGKILL)
                    break
        proc.wait(timeout=60)
        state = next(m["value"] for m in reversed(messages) if m["type"] == "STATE")
        first = [
            r["id"]
            for m in messages
            if m["type"] == "BATCH" and m["stream"] == "tasks"
            for r in records_in(m)
        ]
        assert 0 < len(first) < 400
        sb.reset()
        rerun = run_tap("tap-crm", config, state=state)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        second = [
            r["id"]
            for m in rerun.messages
            if m["type"] == "BATCH" and m["stream"] == "tasks"
            for r in records_in(m)
        ]
        assert set(first) | set(second) == set(sb.truth("tasks"))
        # resumed after the last file announced, not from 0
        offsets = [int(r["query"]["offset"]) for r in sb.request_log() if r["path"] == "/v1/tasks"]
        assert min(offsets) > 0
        assert len(second) < 400


def test_batch_files_are_private_whatever_the_umask(tmp_path):
    """BATCH files hold records: created 0600, in a folder the tap makes 0700, even when the tap starts
    with umask 000 (a folder that already exists keeps its mode)."""
    root = tmp_path / "made-by-the-tap"
    with run_sandbox("leads", records=30) as sb:
        config = tap_config(sb.base_url, batch_config=batch_config(root, 1000, "none"))
        old = os.umask(0)
        try:
            run = run_tap("tap-leads", config)
        finally:
            os.umask(old)
    assert run.returncode == 0, run.stderr[-2000:]
    files = [Path(urlsplit(url).path) for m in run.messages if m["type"] == "BATCH" for url in m["manifest"]]
    assert files, "no BATCH file written"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {oct(0o600)}
