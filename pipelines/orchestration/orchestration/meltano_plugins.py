"""The Meltano side of the accounts file: one inherited extractor per account, in their own YAML file.

``meltano.yml`` includes ``pipelines/orchestration/accounts.meltano.yml`` (``include_paths``); this module
writes it from ``accounts.yml``:

```yaml
plugins:
  extractors:
  - name: tap-crm--acme        # meltano run tap-crm--acme target-duckdb
    inherit_from: tap-crm      # Meltano's plugin inheritance: same venv, settings and defaults
    namespace: tap_crm__acme   # from API and name: Meltano reads TAP_CRM__ACME_<SETTING>, this account's own
    load_schema: crm_acme      # the target schema (the loaders default to $MELTANO_EXTRACT__LOAD_SCHEMA)
    config:
      api_key: $CRM_ACME_API_KEY   # a reference to the variable, never the key
```

The namespace is never the schema: Meltano reads `<NAMESPACE>_<SETTING>` from the environment above the
plugin's config, so a namespace `crm_acme` would make `CRM_ACME_API_KEY` that plugin's key, whichever
account lists it. Each plugin has its own state id (``prod:tap-crm--acme-to-target-postgres-bulk``), so
accounts never share or overwrite each other's bookmarks.

    python -m orchestration.meltano_plugins            # (re)write the file
    python -m orchestration.meltano_plugins --check    # exit 1 and say what differs when it drifted
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from orchestration.accounts import Accounts, AccountsError, load_accounts
from orchestration.settings import default_accounts_path, project_root

INCLUDE_PATH = Path("pipelines") / "orchestration" / "accounts.meltano.yml"
HEADER = """\
# Generated from the accounts file by `python -m orchestration.meltano_plugins`: edit accounts.yml, then
# rerun it (`--check` reports drift; tests/test_orchestration_accounts.py fails on it). One inherited
# extractor per account: its own key variable, namespace (tap_<api>__<name>), target schema and state id.
"""


def plugin_entries(accounts: Accounts) -> list[dict[str, Any]]:
    entries = []
    for account in accounts.all():
        config: dict[str, Any] = {"api_key": f"${account.api_key_env}"}
        if account.base_url:
            config["base_url"] = account.base_url
        entries.append(
            {
                "name": account.extractor,
                "inherit_from": f"tap-{account.api}",
                "namespace": account.namespace,
                "load_schema": account.schema,
                "config": config,
            }
        )
    return entries


def render(accounts: Accounts) -> str:
    body = {"plugins": {"extractors": plugin_entries(accounts)}}
    return HEADER + yaml.safe_dump(body, sort_keys=False, default_flow_style=False, width=110)


def drift(expected: str, path: Path) -> list[str]:
    """What differs between the file at `path` and what the accounts file makes, plugin by plugin."""
    if not path.exists():
        return [f"{path} does not exist"]
    current = path.read_text(encoding="utf-8")
    if current == expected:
        return []
    try:
        have = {
            p["name"]: p for p in (yaml.safe_load(current) or {}).get("plugins", {}).get("extractors", [])
        }
    except (yaml.YAMLError, AttributeError, TypeError, KeyError):
        return [f"{path} is not a plugins file"]
    want = {p["name"]: p for p in yaml.safe_load(expected)["plugins"]["extractors"]}
    problems = [f"missing plugin {name}" for name in want if name not in have]
    problems += [f"plugin {name} is not in the accounts file" for name in have if name not in want]
    problems += [
        f"plugin {name} differs: {have[name]} != {want[name]}"
        for name in want
        if name in have and have[name] != want[name]
    ]
    return problems or [f"{path} differs in formatting or comments"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.meltano_plugins", description=__doc__)
    parser.add_argument("--accounts", type=Path, default=None, help="accounts file (default: accounts.yml)")
    parser.add_argument(
        "--output", type=Path, default=None, help=f"plugins file (default: {INCLUDE_PATH} in the repository)"
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the file drifted")
    args = parser.parse_args(argv)
    output = args.output or project_root() / INCLUDE_PATH
    try:
        accounts = load_accounts(args.accounts or default_accounts_path())
    except AccountsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    expected = render(accounts)
    if args.check:
        problems = drift(expected, output)
        for problem in problems:
            print(f"drift: {problem}", file=sys.stderr)
        if problems:
            print(f"run `python -m orchestration.meltano_plugins` to rewrite {output}", file=sys.stderr)
        return 1 if problems else 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(expected, encoding="utf-8")
    print(f"wrote {len(accounts.all())} extractors to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
