"""Every workspace package builds as a wheel that a user's installer can trust.

The wheels come from `uv build` (the `built_wheels` fixture, tests/dists.py): one per member of the root
pyproject's `[tool.uv.workspace]`. Each must carry every file of its import packages and its console
scripts, and name exactly the dependencies its pyproject declares, by name and version range, never as a
path into this workspace (uv's `workspace = true` sources must not leak into the metadata).
`tests/test_meltano_hub.py` installs a tap's Hub definition from these wheels and runs it.
"""

from __future__ import annotations

from pathlib import Path

import dists
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

MEMBERS = dists.members()


def _wheel(member: dists.Member, built_wheels: dict[str, Path]) -> dists.Wheel:
    assert member.directory in built_wheels, f"uv build made no wheel of {member.directory} ({member.name})"
    return dists.Wheel.read(built_wheels[member.directory])


def test_every_member_builds_a_wheel(built_wheels: dict[str, Path]) -> None:
    assert MEMBERS, "no [tool.uv.workspace] members read from pyproject.toml"
    assert sorted(built_wheels) == sorted(m.directory for m in MEMBERS)


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.directory)
def test_wheel_names_its_dependencies(member: dists.Member, built_wheels: dict[str, Path]) -> None:
    wheel = _wheel(member, built_wheels)
    assert canonicalize_name(wheel.metadata["Name"]) == member.name
    leaks = [r for r in wheel.requires if "file:" in r or Requirement(r).url]
    assert not leaks, f"{member.directory}: Requires-Dist points at paths or URLs: {leaks}"

    def shape(requirement: Requirement) -> tuple[object, ...]:
        return sorted(requirement.extras), str(requirement.specifier), str(requirement.marker or "")

    shipped = {canonicalize_name(r.name): shape(r) for r in map(Requirement, wheel.requires)}
    declared = {name: shape(r) for name, r in member.dependencies.items()}
    assert shipped == declared, f"{member.directory}: wheel's Requires-Dist differs from pyproject.toml"


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.directory)
def test_wheel_carries_its_packages_and_scripts(member: dists.Member, built_wheels: dict[str, Path]) -> None:
    wheel = _wheel(member, built_wheels)
    packages = member.package_dirs()
    assert packages, f"{member.directory}: no import package found"
    for package in packages:
        assert (package / "__init__.py").is_file(), f"{member.directory}: {package.name} is no package"
        sources = dists.committed_files(package)
        expected = {f"{package.name}/{Path(s).relative_to(package.relative_to(dists.REPO)).as_posix()}"
                    for s in sources}  # fmt: skip
        missing = sorted(expected - wheel.files)
        assert not missing, f"{member.directory}: the wheel lacks {missing[:10]}"
    for script, target in member.scripts.items():
        assert f"{script} = {target}" in wheel.entry_points, f"{member.directory}: no console script {script}"
        module = target.split(":")[0].replace(".", "/")
        assert {f"{module}.py", f"{module}/__init__.py"} & wheel.files, f"{script}: {module} not in the wheel"
