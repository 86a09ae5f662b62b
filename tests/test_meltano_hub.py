"""Each tap added to someone else's Meltano project the Meltano Hub way, and its definitions kept honest.

`tap-x/meltano-hub.yml` is what a user points `meltano add --from-ref` at. Its public pip_url installs the
kit and the tap from the repository with `git+<repo>.git#subdirectory=...`; here the same form points at
this clone (`git+file://`), so the test installs what is committed, exactly as a user would. One more
case points it at the wheels `uv build` made (the `built_wheels` fixture): the distributions install alone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from warehouse import tap_env

from api_sandbox import run_sandbox

REPO = Path(__file__).resolve().parents[1]
TAPS = ("crm", "projects", "leads")
VENV_BIN = Path(sys.executable).parent

sys.path.insert(0, str(REPO / "dev" / "scripts"))
import plugin_defs  # noqa: E402


def _meltano(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))}
    return subprocess.run(
        [str(VENV_BIN / "meltano"), *args],
        cwd=project,
        env={**clean, "PATH": f"{VENV_BIN}{os.pathsep}{clean.get('PATH', '')}", **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _output(result: Any) -> str:
    return f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"


def _committed(path: str) -> bool:
    """Whether `path` exists in HEAD: git+file:// installs what is committed."""
    probe = subprocess.run(
        ["git", "-C", str(REPO), "cat-file", "-e", f"HEAD:{path}"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.parametrize("tap", TAPS)
def test_add_from_ref_install_and_run(tap: str, tmp_path: Path) -> None:
    if not _committed(f"plugins/tap-{tap}/tap_{tap}/tap.py"):
        pytest.skip(f"tap-{tap} is not committed yet (git+file:// installs HEAD)")
    definition = _definition(tap)
    local = re.sub(r"git\+\S+?\.git#", f"git+file://{REPO}#", definition)
    _add_install_and_invoke(tap, local, tmp_path)


def test_add_from_ref_with_built_wheels(built_wheels: dict[str, Path], tmp_path: Path) -> None:
    """The definition's pip_url with each `#subdirectory=X` replaced by the wheel `uv build` made of X:
    the distributions alone (no source tree) install a working tap, with their dependencies from the index.
    """
    tap = "crm"
    definition = _definition(tap)

    def wheel(match: re.Match[str]) -> str:
        directory = match.group(1)
        assert directory in built_wheels, f"pip_url installs {directory}, which is no workspace member"
        return str(built_wheels[directory])

    local = re.sub(r"git\+\S+?\.git#subdirectory=(\S+)", wheel, definition)
    assert "git+" not in local
    _add_install_and_invoke(tap, local, tmp_path)


def _definition(tap: str) -> str:
    definition = (REPO / "plugins" / f"tap-{tap}" / "meltano-hub.yml").read_text()
    public = re.search(r"^pip_url: (.*)$", definition, re.M)
    assert public and "#subdirectory=kits/tapkit" in public.group(1), (
        "pip_url must install the kit and the tap"
    )
    return definition


def _add_install_and_invoke(tap: str, definition: str, tmp_path: Path) -> None:
    """`meltano add --from-ref` of `definition` into a fresh project, then invoke the tap against a sandbox:
    every record of the sandbox arrives."""
    ref = tmp_path / "tap.yml"
    ref.write_text(definition)

    project = tmp_path / "someone-elses-project"
    project.mkdir()
    (project / "meltano.yml").write_text(
        "default_environment: dev\nproject_id: someone-else\nsend_anonymous_usage_stats: false\n"
        "environments:\n- name: dev\nplugins: {}\n"
    )
    added = _meltano(project, "add", "--plugin-type", "extractor", f"tap-{tap}", "--from-ref", str(ref))
    assert added.returncode == 0, _output(added)
    assert f"name: tap-{tap}" in (project / "meltano.yml").read_text()
    # `meltano add` installs the plugin too (meltano 4.4.1).
    assert (project / ".meltano" / "extractors" / f"tap-{tap}" / "venv" / "bin" / f"tap-{tap}").exists()

    with run_sandbox(tap, records=40, seed=3) as sb:
        run = _meltano(project, "invoke", f"tap-{tap}", env=tap_env(tap, sb.base_url))
        assert run.returncode == 0, _output(run)
        truth = sb.truth()
    seen: dict[str, list[Any]] = defaultdict(list)
    for line in run.stdout.splitlines():
        if line.startswith("{"):
            message = json.loads(line)
            if message.get("type") == "RECORD":
                seen[message["stream"]].append(message["record"]["id"])
    assert {k: sorted(map(str, v)) for k, v in seen.items()} == {
        k: sorted(map(str, v)) for k, v in truth.items()
    }


@pytest.mark.parametrize("tap", TAPS)
def test_definitions_match_the_tap_about(tap: str) -> None:
    """meltano-hub.yml and meltano.yml declare exactly the tap's settings, kinds, secrecy and defaults.

    On failure: `python dev/scripts/plugin_defs.py` regenerates both from `tap-x --about --format=json`.
    """
    info = plugin_defs.about(tap)
    yaml = plugin_defs._yaml()
    hub = yaml.load((REPO / "plugins" / f"tap-{tap}" / "meltano-hub.yml").read_text())
    project = plugin_defs.meltano_yml_extractors(yaml.load((REPO / "meltano.yml").read_text()))
    problems = plugin_defs.drift(tap, hub, info) + plugin_defs.drift(tap, project[f"tap-{tap}"], info)
    assert not problems, "\n".join(problems) + "\nrun: python dev/scripts/plugin_defs.py"
    for key in ("name", "namespace", "variant", "label", "description", "pip_url", "repo", "docs",
                "executable", "capabilities", "settings", "settings_group_validation", "keywords",
                "maintenance_status", "quality"):  # fmt: skip
        assert hub.get(key), f"meltano-hub.yml lacks {key}"
    assert hub["settings_group_validation"] == [["api_key"]]
    api_key = next(s for s in hub["settings"] if s["name"] == "api_key")
    assert api_key["kind"] == "password" and api_key["sensitive"] is True


@pytest.mark.parametrize("loader", plugin_defs.LOADERS)
def test_loader_definitions_match_the_loader_about(loader: str) -> None:
    """target-x-bulk/meltano-hub.yml and meltano.yml declare exactly the loader's settings.

    On failure: `python dev/scripts/plugin_defs.py` regenerates both from
    `target-x-bulk --about --format=json`.
    """
    info = plugin_defs.about(loader)
    yaml = plugin_defs._yaml()
    hub = yaml.load((REPO / "plugins" / loader / "meltano-hub.yml").read_text())
    project = plugin_defs.meltano_yml_loaders(yaml.load((REPO / "meltano.yml").read_text()))
    problems = plugin_defs.drift(loader, hub, info) + plugin_defs.drift(loader, project[loader], info)
    assert not problems, "\n".join(problems) + "\nrun: python dev/scripts/plugin_defs.py"
    assert hub["pip_url"].split()[0].endswith("#subdirectory=kits/loaderkit"), hub["pip_url"]
    assert "batch_size_rows" in {s["name"] for s in hub["settings"]}
