"""What the README generators share: a plugin's `--about --format=markdown` as a README section, and the
command line that writes the READMEs or, with `--check`, fails when one is stale.
Used by dev/scripts/tap_readmes.py and dev/scripts/loader_readmes.py.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def about_markdown(name: str) -> str:
    """`name --about --format=markdown`, its title dropped and its headings demoted under the README's."""
    about = subprocess.run(
        [str(BIN / name), "--about", "--format=markdown"], capture_output=True, text=True, check=True
    ).stdout.strip()
    about = about.replace("\n# ", "\n### ").replace("\n## ", "\n### ")
    return about.split("\n", 1)[1].strip() if about.startswith("# ") else about


def main(script: str, description: str | None, names: Iterable[str], render: Callable[[str], str]) -> int:
    """Write `<name>/README.md` = `render(name)` for each name; with `--check`, only say which are stale."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="fail if a README is not what it would be")
    args = parser.parse_args()
    stale = []
    for name in names:
        path = ROOT / "plugins" / name / "README.md"
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)}: run python dev/scripts/{script}", file=sys.stderr)
        return 1
    return 0
