"""The drift report of a sampling discovery: per stream, properties sent but not declared, declared but never
seen, type conflicts; as JSON, Markdown, or one line per stream for stderr."""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass, field

from tapkit.drift import Schema, differences, schema_paths, seen_paths


@dataclass
class StreamDrift:
    """What the sampled records of one stream showed against its declared schema."""

    stream: str
    sampled: int = 0
    undeclared: dict[str, list[str]] = field(default_factory=dict)  # path -> types seen
    conflicts: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # path -> declared, seen
    never_seen: list[str] = field(default_factory=list)
    error: str | None = None  # why the stream could not be sampled

    def note(self, declared: Schema, records: list[dict]) -> None:
        seen: set[str] = set()
        for record in records:
            seen.update(seen_paths(record))
            for diff in differences(declared, record):
                if diff.kind == "undeclared":
                    kinds = self.undeclared.setdefault(diff.path, [])
                else:
                    entry = self.conflicts.setdefault(
                        diff.path, {"declared": list(diff.declared), "seen": []}
                    )
                    kinds = entry["seen"]
                kinds.extend(k for k in diff.seen if k not in kinds)
        self.sampled += len(records)
        self.never_seen = [p for p in schema_paths(declared) if p not in seen]

    @property
    def drifted(self) -> bool:
        return bool(self.undeclared or self.conflicts)


@dataclass
class DriftReport:
    """Per stream: properties sent but not declared, declared but never seen, type conflicts."""

    streams: list[StreamDrift] = field(default_factory=list)

    def to_dict(self) -> dict[str, t.Any]:
        return {
            "streams": {
                s.stream: {
                    "sampled_records": s.sampled,
                    "undeclared": s.undeclared,
                    "type_conflicts": s.conflicts,
                    "never_seen": s.never_seen,
                    **({"error": s.error} if s.error else {}),
                }
                for s in self.streams
            }
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        lines = ["# Schema drift report", ""]
        lines.append("| stream | sampled | sent, not declared | type conflicts | declared, never seen |")
        lines.append("|---|---|---|---|---|")
        for s in self.streams:
            sent = ", ".join(f"`{p}` ({'/'.join(k)})" for p, k in s.undeclared.items()) or "-"
            conflicts = (
                ", ".join(
                    f"`{p}` ({'/'.join(c['declared'])} -> {'/'.join(c['seen'])})"
                    for p, c in s.conflicts.items()
                )
                or "-"
            )
            never = ", ".join(f"`{p}`" for p in s.never_seen) or "-"
            sampled = f"not sampled: {s.error}" if s.error else str(s.sampled)
            lines.append(f"| {s.stream} | {sampled} | {sent} | {conflicts} | {never} |")
        return "\n".join(lines) + "\n"

    def summary_lines(self) -> list[str]:
        """One line per stream, for stderr."""
        out = []
        for s in self.streams:
            if s.error:
                out.append(f"stream '{s.stream}': not sampled: {s.error}")
                continue
            parts = [f"{s.sampled} records sampled"]
            if s.undeclared:
                parts.append(f"sent but not declared: {', '.join(s.undeclared)}")
            if s.conflicts:
                parts.append(f"type conflicts: {', '.join(s.conflicts)}")
            if s.never_seen:
                parts.append(f"{len(s.never_seen)} declared properties never seen")
            if not s.drifted:
                parts.append("the schema covers every record")
            out.append(f"stream '{s.stream}': " + "; ".join(parts))
        return out
