"""meltano.yml stays in the shape Meltano writes, so Meltano's own writes change only what they mean to.

Meltano rewrites the whole file whenever it writes to it (`meltano config set`, `meltano select`): its key
order, its quoting, and without comments among a plugin's keys. A file in another shape came back with
a 405-line diff for a one-setting change. dev/scripts/plugin_defs.py writes every plugin through
Meltano's own classes; this test runs the two README commands on a copy and counts the changed lines.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def _changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.mark.parametrize(
    "command",
    [("config", "set", "target-postgres-bulk", "host", "x"), ("select", "tap-crm", "tasks", "*")],
    ids=["config-set", "select"],
)
def test_a_meltano_write_changes_only_its_lines(command: tuple[str, ...], tmp_path: Path) -> None:
    project = tmp_path / "clone"
    project.mkdir()
    shutil.copy(REPO / "meltano.yml", project / "meltano.yml")
    for included in yaml.safe_load((REPO / "meltano.yml").read_text()).get("include_paths", []):
        (project / included).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / included, project / included)
    before = (project / "meltano.yml").read_text()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))}
    done = subprocess.run(
        [str(VENV_BIN / "meltano"), *command],
        cwd=project,
        env={**clean, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    changed = _changed_lines(before, (project / "meltano.yml").read_text())
    assert changed, "Meltano wrote nothing: the command did not do what the test thinks"
    assert len(changed) < 10, f"`meltano {' '.join(command)}` changed {len(changed)} lines:\n" + "\n".join(
        changed[:40]
    )
