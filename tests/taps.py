"""What the cross-package tests need to know of the three taps: console script, a paginated and an
unpaginated stream with their served paths, and the number field the odd-body tests aim at."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class TapUnderTest:
    api: str
    tap: str
    paged: str  # a paginated stream
    paged_path: str
    single: str  # a stream served in one response ("" when the API has none)
    single_path: str
    number_stream: str  # a stream with a JSON-schema number field
    number_path: str
    number_field: str
    id_stream: str  # a paginated stream other than number_stream (one fault fires per request)
    id_path: str

    def ids_in(self, stdout: str, stream: str) -> list[str]:
        """The ids of ``stream`` as they stand in the tap's output, as text (no float in between)."""
        out = []
        for line in stdout.splitlines():
            if line.startswith('{"type":"RECORD"') and json.loads(line)["stream"] == stream:
                out.append(line.split('"id":', 1)[1].split(",", 1)[0])
        return out


TAPS = {
    "crm": TapUnderTest(
        "crm", "tap-crm", "tasks", "/v1/tasks", "persons", "/v1/persons", "opportunities",
        "/v1/opportunities", "amount", "tasks", "/v1/tasks",
    ),
    "projects": TapUnderTest(
        "projects", "tap-projects", "jobs", "/v1/jobs", "", "", "jobs", "/v1/jobs", "estimated_value",
        "tasks", "/v1/tasks",
    ),
    "leads": TapUnderTest(
        "leads", "tap-leads", "leads", "/v2/leads", "teams", "/v2/teams", "leads", "/v2/leads", "value",
        "prospecting_lists", "/v2/spreadsheets",
    ),
}  # fmt: skip
