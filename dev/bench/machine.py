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


def machine() -> dict[str, str]:
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
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": platform.platform(),
        "packages": ", ".join(versions),
    }
