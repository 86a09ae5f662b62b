"""The workspace's packages as distributions: `uv build` of every member, and what each wheel says of itself.

The members are read from the root pyproject's `[tool.uv.workspace]`, so a package that becomes a member
is built and checked with no change here. `uv build` takes its build backend (hatchling) from uv's cache.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Member:
    """One workspace member: its directory (relative to the repository) and its pyproject."""

    directory: str
    project: dict

    @property
    def name(self) -> str:
        return str(canonicalize_name(self.project["project"]["name"]))

    @property
    def dependencies(self) -> dict[str, Requirement]:
        declared = map(Requirement, self.project["project"]["dependencies"])
        return {canonicalize_name(r.name): r for r in declared}

    @property
    def scripts(self) -> dict[str, str]:
        return dict(self.project["project"].get("scripts", {}))

    def package_dirs(self) -> list[Path]:
        """The import packages of the source tree, which the wheel must carry whole: the member's
        directories with an `__init__.py` (tests excepted), or the member itself when it is one."""
        root = REPO / self.directory
        if (root / "__init__.py").is_file():
            return [root]
        return sorted(p.parent for p in root.glob("*/__init__.py") if p.parent.name != "tests")


def members() -> list[Member]:
    workspace = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    dirs = sorted(
        {
            p.parent.relative_to(REPO)
            for glob in workspace["members"]
            for p in REPO.glob(f"{glob}/pyproject.toml")
        }
    )
    return [Member(str(d), tomllib.loads((REPO / d / "pyproject.toml").read_text())) for d in dirs]


def uv() -> list[str]:
    """How to run uv here: on PATH, else as a module of this Python (how dev/scripts/setup.sh finds it)."""
    found = shutil.which("uv")
    if found:
        return [found]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True, check=False)
    if probe.returncode == 0:
        return [sys.executable, "-m", "uv"]
    raise RuntimeError("uv not found (make setup installs it)")


def build_wheels(out_dir: Path) -> None:
    """`uv build --wheel` of every member into `out_dir`."""
    result = subprocess.run(
        [*uv(), "build", "--all-packages", "--wheel", "--out-dir", str(out_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"uv build failed (exit {result.returncode}):\n{result.stderr[-6000:]}")


def wheel_path(out_dir: Path, member: Member) -> Path | None:
    """The member's wheel in `out_dir`, or None."""
    found = [w for w in out_dir.glob("*.whl") if canonicalize_name(w.name.split("-")[0]) == member.name]
    return found[0] if found else None


def committed_files(directory: Path) -> list[str]:
    """Files under `directory` that git tracks or would track (what hatchling packs: not ignored ones)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", str(directory)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in listed.stdout.splitlines() if (REPO / line).is_file()]


@dataclass(frozen=True)
class Wheel:
    """The parts of a built wheel a user's installer reads: metadata, entry points and file list."""

    metadata: email.message.Message
    entry_points: str
    files: frozenset[str]

    @classmethod
    def read(cls, path: Path) -> Wheel:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
            metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
            entry_points = (
                archive.read(f"{info}/entry_points.txt").decode()
                if f"{info}/entry_points.txt" in names
                else ""
            )
        return cls(metadata, entry_points, frozenset(names))

    @property
    def requires(self) -> list[str]:
        return self.metadata.get_all("Requires-Dist") or []
