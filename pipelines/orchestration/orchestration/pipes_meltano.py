"""The external side of Dagster Pipes: `meltano run` for one account, reported back to Dagster.

Started by the code location (`python -m orchestration.pipes_meltano`) inside a Pipes session; imports
`dagster_pipes` only (no Dagster), so it starts fast and could run on any machine or container.

- runs `meltano --log-format=json run [--full-refresh] [--force] <extractor> <loader>` and reads Meltano's
  JSON log; `--force` when the Dagster side says no other run of this partition is going (`force`): Meltano
  keeps refusing a state id for minutes after a killed run ("Another ... pipeline is already running"),
  which would lock out Dagster's retries;
- writes every log line, readable, to its own stderr: Dagster keeps it as the step's compute log;
- sends the lines that matter (streams starting and finishing, resumes, the catalog given, warnings,
  errors) to Dagster's event log through Pipes;
- counts the records the tap emitted per stream (singer-sdk's `record_count` metrics) and, when the run
  succeeded, reports one materialization per stream asset with that count as metadata;
- when it failed, reports the plugin's own one-line error (e.g. the tap's `tap-crm: stream 'tasks': GET
  ...: HTTP 401 ...`) as a custom message and exits with Meltano's exit status;
- SIGINT or SIGTERM (Dagster terminating the run, a pod being evicted) stops the *tap* with SIGTERM: it
  writes the state of the pages it finished and exits; the loader then sees the end of its input, loads
  what it holds and emits that state, and Meltano stores it. (SIGTERM to Meltano itself ends tap and
  loader at once, and a loader that had not flushed loses the state it held: singer-sdk loaders emit
  state only when they drain all their sinks, at the end or every 5 minutes.)

Extras from the Dagster side: `extractor`, `executable` (the tap's command), `loader`, `full_refresh`,
`force`, `assets` ({stream: asset key}), `state_id`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from dagster_pipes import PipesContext, open_dagster_pipes

ERROR_LEVELS = {"error", "critical", "exception"}
METRIC_PREFIX = "METRIC: "  # singer-sdk's text form of a metric line
NOTABLE = (
    "Beginning ",
    "resuming at",
    " records from ",
    "Incremental state has been updated",
    "Using custom catalog",  # the catalog given (REST_TAPS_CATALOG_DIR), not discovered
)


def meltano_executable() -> str:
    beside = Path(sys.executable).parent / "meltano"
    return str(beside) if beside.exists() else "meltano"


def readable(event: dict[str, Any]) -> str:
    """One log line for people: time, level, who, what."""
    who = event.get("string_id") or event.get("name") or "meltano"
    text = str(event.get("event", ""))
    metric = event.get("metric_info")
    if isinstance(metric, dict):
        tags = metric.get("tags") or {}
        stream = f" stream={tags['stream']}" if "stream" in tags else ""
        text = f"metric {metric.get('metric')}={metric.get('value')}{stream}"
    return f"{event.get('timestamp', '')} {event.get('level', 'info')!s:<7} {who}: {text}"


def tap_metric(event: dict[str, Any]) -> dict[str, Any] | None:
    """A singer-sdk metric the extractor logged, in either form Meltano hands it on: parsed
    (`metric_info`, when Meltano reads the plugin's structured log) or as the SDK's text line
    `METRIC: {...}` (when the structured record lost its parts on the way, as keyguard's log filter
    once made it). The loader's metrics (a consumer's) are not the rows the tap synced."""
    if not event.get("producer"):
        return None
    metric = event.get("metric_info")
    if isinstance(metric, dict):
        return metric
    text = str(event.get("event", ""))
    if not text.startswith(METRIC_PREFIX):
        return None
    try:
        parsed = json.loads(text[len(METRIC_PREFIX) :])
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class MeltanoLog:
    """What the run said: records per stream, and the error that ended it."""

    def __init__(self) -> None:
        self.records: Counter[str] = Counter()
        self.plugin_errors: list[tuple[bool, str]] = []  # (from the extractor?, last line of the message)
        self.meltano_errors: list[str] = []

    def take(self, event: dict[str, Any]) -> None:
        metric = tap_metric(event)
        if metric is not None:
            if metric.get("metric") == "record_count":
                stream = (metric.get("tags") or {}).get("stream")
                if stream:
                    self.records[str(stream)] += int(metric.get("value") or 0)
            return
        if str(event.get("level", "")).lower() not in ERROR_LEVELS:
            return
        text = str(event.get("event", "")).strip()
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            return
        if "string_id" in event:  # a plugin's own stderr line
            if not text.startswith("An unhandled error occurred"):
                self.plugin_errors.append((bool(event.get("producer")), lines[-1].strip()))
        else:
            self.meltano_errors.append(lines[-1].strip())

    def error(self) -> str:
        """The plugin's own last error line, the extractor's first; else Meltano's."""
        for from_extractor in (True, False):
            found = [text for producer, text in self.plugin_errors if producer == from_extractor]
            if found:
                return found[-1]
        if self.meltano_errors:
            return self.meltano_errors[0]
        return ""


def stop_tap(meltano_pid: int, executable: str) -> None:
    """SIGTERM to the tap Meltano started (found by its command), else to Meltano."""
    import psutil  # Meltano's own dependency

    try:
        children = psutil.Process(meltano_pid).children(recursive=True)
    except psutil.Error:
        return
    taps = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            if any(Path(part).name == executable for part in child.cmdline()[:2]):
                taps.append(child)
    for target in taps or [psutil.Process(meltano_pid)]:
        with contextlib.suppress(psutil.Error):
            target.send_signal(signal.SIGTERM)


def run(context: PipesContext) -> int:
    extras = context.extras
    argv = [meltano_executable(), "--log-format=json", "run"]
    options = ["--full-refresh"] if extras.get("full_refresh") else []
    options += ["--force"] if extras.get("force") else []
    argv += [*options, extras["extractor"], extras["loader"]]
    log = MeltanoLog()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        bufsize=1,
    )

    def forward(signum: int, frame: object) -> None:
        if proc.poll() is None:
            stop_tap(proc.pid, extras["executable"])

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    shown = " ".join([*options, extras["extractor"], extras["loader"]])
    context.log.info(f"$ meltano run {shown} (state id {extras['state_id']})")
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.rstrip("\n")
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            print(line, file=sys.stderr, flush=True)
            continue
        log.take(event)
        text = readable(event)
        print(text, file=sys.stderr, flush=True)
        level = str(event.get("level", "")).lower()
        message = str(event.get("event", ""))
        if level in ERROR_LEVELS:
            context.log.error(text)
        elif level == "warning":
            context.log.warning(text)
        elif any(mark in message for mark in NOTABLE):
            context.log.info(text)
    code = proc.wait()
    assets: dict[str, str] = extras["assets"]
    if code == 0:
        for stream, asset_key in assets.items():
            context.report_asset_materialization(
                asset_key=asset_key,
                metadata={
                    "rows": {"raw_value": log.records.get(stream, 0), "type": "int"},
                    "meltano_state_id": extras["state_id"],
                },
            )
    context.report_custom_message(
        {"returncode": code, "error": log.error(), "records": dict(log.records)},
    )
    return code


def main() -> int:
    os.environ.setdefault("NO_COLOR", "1")
    with open_dagster_pipes() as context:
        return run(context)


if __name__ == "__main__":
    sys.exit(main())
