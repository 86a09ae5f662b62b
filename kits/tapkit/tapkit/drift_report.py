"""The drift report of a sampling discovery: per stream, properties sent but not declared, declared but never
seen, type conflicts; as JSON, Markdown, or one line per stream for stderr."""

from __future__ import annotations

import json
import re
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
            sent = ", ".join(f"{_code(p)} ({'/'.join(k)})" for p, k in s.undeclared.items()) or "-"
            conflicts = (
                ", ".join(
                    f"{_code(p)} ({'/'.join(c['declared'])} -> {'/'.join(c['seen'])})"
                    for p, c in s.conflicts.items()
                )
                or "-"
            )
            never = ", ".join(_code(p) for p in s.never_seen) or "-"
            sampled = f"not sampled: {_cell(s.error)}" if s.error else str(s.sampled)
            lines.append(f"| {_cell(s.stream)} | {sampled} | {sent} | {conflicts} | {never} |")
        return "\n".join(lines) + "\n"

    def summary_lines(self) -> list[str]:
        """One line per stream, for stderr."""
        out = []
        for s in self.streams:
            if s.error:
                out.append(f"stream '{s.stream}': not sampled: {_visible(s.error)}")
                continue
            parts = [f"{s.sampled} records sampled"]
            if s.undeclared:
                parts.append(f"sent but not declared: {_names(s.undeclared)}")
            if s.conflicts:
                parts.append(f"type conflicts: {_names(s.conflicts)}")
            if s.never_seen:
                parts.append(f"{len(s.never_seen)} declared properties never seen")
            if not s.drifted:
                parts.append("the schema covers every record")
            out.append(f"stream '{s.stream}': " + "; ".join(parts))
        return out


MAX_NAMED = 20  # property names in a stream's stderr line (the report files list them all)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _visible(text: str) -> str:
    """``text`` with control characters as JSON escapes: a name holding a newline cannot split a line."""
    return _CONTROL.sub(lambda m: json.dumps(m.group())[1:-1], text)


def _names(paths: t.Iterable[str]) -> str:
    names = [_visible(p) for p in paths]
    more = len(names) - MAX_NAMED
    return ", ".join(names[:MAX_NAMED]) + (f" and {more} more" if more > 0 else "")


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, no unescaped column separator."""
    return _visible(text).replace("|", "\\|")


def _code(name: str) -> str:
    """A property name as a code span in a table cell, whatever backticks it holds."""
    text = _cell(name)
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
