"""No distribution this repository publishes, and no dependency of one, has a name a stranger owns.

The list of names known taken is kept in the repository (tests/fixtures/taken_names.txt). Checked: every
workspace member's name, every dependency its pyproject declares, and every name a Meltano definition's
pip_url installs; and, with a real resolver, that installing a tap by its published name from the wheel
folder (`make dist`) takes each of our distributions from that folder and nothing of a taken name.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import dists
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = dists.REPO
MEMBERS = dists.members()
OURS = {m.name for m in MEMBERS}


def taken() -> set[str]:
    lines = (REPO / "tests" / "fixtures" / "taken_names.txt").read_text().splitlines()
    return {
        str(canonicalize_name(line.split("#")[0].strip())) for line in lines if line.split("#")[0].strip()
    }


def import_names() -> set[str]:
    """Our import packages' names as distribution names (tapkit, api-sandbox, ...)."""
    return {str(canonicalize_name(p.name)) for m in MEMBERS for p in m.package_dirs()}


def pip_url_names() -> dict[str, list[str]]:
    found = {}
    for definition in sorted(REPO.glob("plugins/*/meltano-hub.yml")):
        pip_url = re.search(r"^pip_url: (.*)$", definition.read_text(), re.M)
        assert pip_url, f"{definition.relative_to(REPO)} has no pip_url"
        found[definition.parent.name] = [str(canonicalize_name(n)) for n in pip_url.group(1).split()]
    return found


def test_the_taken_list_is_read() -> None:
    assert {"tapkit", "api-sandbox", "orchestration"} <= taken()


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.directory)
def test_member_and_its_dependencies_are_not_strangers_names(member: dists.Member) -> None:
    strangers = taken()
    assert member.name not in strangers, f"{member.directory}: {member.name} is a stranger's name"
    for name in member.dependencies:
        assert name not in strangers, f"{member.directory} depends on {name}, a stranger's package"
        # A dependency named after one of our import packages that is no member of ours: a rename forgotten.
        assert name in OURS or name not in import_names(), (
            f"{member.directory} depends on {name}: an import name of ours, published by no member"
        )


def test_root_workspace_depends_only_on_members_by_their_names() -> None:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {str(canonicalize_name(Requirement(r).name)) for r in root}
    assert names == OURS - {"rest-taps-workspace"}
    assert not names & taken()


def test_definitions_install_only_our_distributions() -> None:
    for plugin, names in pip_url_names().items():
        assert names[-1] == plugin, f"{plugin}: pip_url must end with {plugin}"
        assert set(names) <= OURS, f"{plugin}: pip_url installs {set(names) - OURS}, no member of ours"
        assert not set(names) & taken()


def test_a_tap_from_the_wheel_folder_resolves_nothing_of_a_strangers_name(
    built_wheels: dict[str, Path],
) -> None:
    """`uv pip install --dry-run --find-links <wheels> <tap-crm's pip_url>`: ours come from the folder at
    the versions built, and no resolved name is a taken one."""
    folder = next(iter(built_wheels.values())).parent
    resolved = subprocess.run(
        [*dists.uv(), "pip", "install", "--dry-run", "--no-config", "--find-links", str(folder),
         "--python", str(REPO / ".venv" / "bin" / "python"), "--target", str(folder / "dry-run"),
         *pip_url_names()["tap-crm"]],
        capture_output=True, text=True, timeout=300, check=False, cwd=folder,
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr[-3000:]
    plan = dict(re.findall(r"^ \+ (\S+)==(\S+)$", resolved.stderr, re.M))
    names = {str(canonicalize_name(n)): v for n, v in plan.items()}
    assert names, resolved.stderr[-3000:]
    assert not set(names) & taken(), f"resolves strangers' packages: {set(names) & taken()}"
    for member in MEMBERS:
        if member.name in names:
            assert names[member.name] == member.project["project"]["version"], member.name
    assert {"tap-crm", "rest-taps-tapkit", "rest-taps-keyguard"} <= set(names)
