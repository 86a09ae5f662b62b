"""The machine a bench run measured on: CPU, cores, RAM, load, Python, OS and the packages' versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "singer-sdk",
    "dlt",
    "meltano",
    "dagster",
    "requests",
    "orjson",
    "duckdb",
    "psycopg2-binary",
    "rest-taps-tapkit",
    "rest-taps-loaderkit",
    "tap-projects",
    "rest-taps-sandbox",
)


def calibration() -> float:
    """µs of CPU per record for an in-process orjson round trip of one page of 1,000 small records, best
    of 5: the same work every run, so a machine that runs slower (a busy host under a virtual machine,
    which the guest's load average does not show) shows here rather than only in every figure at once."""
    import time

    import orjson

    page = orjson.dumps(
        {
            "items": [
                {"id": i, "name": f"record {i}", "amount": i * 1.5, "tags": ["a", "b"]} for i in range(1000)
            ]
        }
    )
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(10):
            records = orjson.loads(page)["items"]
            b"".join([orjson.dumps(r) for r in records])
        best = min(best, time.process_time() - started)
    return best / 10_000 * 1e6


def machine(calibrated_at_start: float | None = None) -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    versions = []
    for pkg in PACKAGES:
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{pkg} (not installed)")
    load = os.getloadavg()
    return {
        "load average now (1, 5, 15 min)": f"{load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} "
        "(above the core count means other work shared the machine during the run)",
        "CPU": cpu,
        "calibration (µs of CPU per record, an orjson round trip of one page in process; start, end)": (
            f"{calibrated_at_start:.2f}, " if calibrated_at_start is not None else ""
        )
        + f"{calibration():.2f}",
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": platform.platform(),
        "packages": ", ".join(versions),
    }
