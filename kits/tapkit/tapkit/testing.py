"""Test helpers for taps built on the kit: run the console script for real and read what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
SANDBOX_KEY = "sandbox-key"


@dataclass
class TapRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    messages: list[dict] = field(default_factory=list)

    def records(self, stream: str) -> list[dict]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream]

    def ids(self, stream: str) -> list:
        return [r["id"] for r in self.records(stream)]

    def streams(self) -> set[str]:
        return {m["stream"] for m in self.messages if m["type"] == "RECORD"}

    @property
    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if "| ERROR" in line or "CRITICAL" in line]


def run_tap(
    tap: str,
    config: dict,
    *,
    state: dict | None = None,
    catalog: dict | None = None,
    extra_args: tuple[str, ...] = (),
    timeout: float = 180,
) -> TapRun:
    """Run the tap's console script the way a user or Meltano does; parse its stdout."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [str(BIN / tap)]
        for flag, content in (("--config", config), ("--state", state), ("--catalog", catalog)):
            if content is not None:
                path = Path(tmp) / f"{flag[2:]}.json"
                path.write_text(json.dumps(content))
                args += [flag, str(path)]
        started = time.monotonic()
        proc = subprocess.run(
            [*args, *extra_args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
        )
        seconds = time.monotonic() - started
    messages = []
    for line in proc.stdout.splitlines():
        if line.startswith('{"type"'):  # Singer messages; --discover prints one indented document
            messages.append(json.loads(line))
    return TapRun(proc.returncode, proc.stdout, proc.stderr, seconds, messages)


def tap_config(base_url: str, **overrides) -> dict:
    return {"api_key": SANDBOX_KEY, "base_url": base_url, **overrides}


def catalog_selecting(tap: str, config: dict, *streams: str) -> dict:
    """The tap's discovered catalog with only ``streams`` selected (to keep a slow test to a few requests)."""
    catalog = json.loads(run_tap(tap, config, extra_args=("--discover",)).stdout)
    for entry in catalog["streams"]:
        stream_level = next(m for m in entry["metadata"] if m["breadcrumb"] == [])
        stream_level["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog
