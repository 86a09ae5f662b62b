"""The accounts file and Meltano's plugins agree; a bad accounts file fails with one line naming where."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestration.accounts import AccountsError, load_accounts, parse_accounts
from orchestration.meltano_plugins import INCLUDE_PATH, drift, render

REPO = Path(__file__).resolve().parents[1]


def test_committed_plugins_file_is_what_the_accounts_file_makes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.meltano_plugins", "--check"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_meltano_sees_one_inherited_extractor_per_account() -> None:
    """Meltano's own view of the project (include_paths resolved), not our reading of the YAML."""
    from meltano.core.plugin import PluginType
    from meltano.core.project import Project

    project = Project(REPO)
    extractors = {p.name: p for p in project.plugins.get_plugins_of_type(PluginType.EXTRACTORS)}
    accounts = load_accounts(REPO / "accounts.yml").all()
    assert accounts, "the accounts file lists no account: the comparison would prove nothing"
    inherited = {name for name, p in extractors.items() if p.inherit_from}
    assert inherited == {a.extractor for a in accounts}
    for account in accounts:
        plugin = extractors[account.extractor]
        assert plugin.inherit_from == f"tap-{account.api}"
        assert plugin.namespace == account.namespace == f"tap_{account.api}__{account.name}"
        assert plugin.extras["load_schema"] == account.schema
        assert plugin.config["api_key"] == f"${account.api_key_env}"
        assert plugin.config.get("base_url") == account.base_url
    assert f"{INCLUDE_PATH}" in (project.meltanofile.read_text())


def test_variables_meltano_reads_for_an_account_are_its_own() -> None:
    """Meltano's own list of the variables it reads for each account's settings (its settings service):
    every one carries the account's own prefix, none is another account's key variable or variable, so a
    key set for one account can never become another's (issue 25: namespace = schema made
    `CRM_ACME_API_KEY` the key of any account whose schema was crm_acme)."""
    from meltano.core.plugin import PluginType
    from meltano.core.plugin.settings_service import PluginSettingsService
    from meltano.core.project import Project

    project = Project(REPO)
    accounts = load_accounts(REPO / "accounts.yml").all()
    extractors = {p.name: p for p in project.plugins.get_plugins_of_type(PluginType.EXTRACTORS)}
    read: dict[str, set[str]] = {}
    for account in accounts:
        service = PluginSettingsService(project, extractors[account.extractor])
        read[account.label] = {
            env_var.key
            for setting in service.setting_definitions
            for env_var in service.setting_env_vars(setting)
        }
        assert f"{account.env_prefix}_API_KEY" in read[account.label], sorted(read[account.label])
        assert all(name.startswith(f"{account.env_prefix}_") for name in read[account.label]), account
    for account in accounts:
        for other in accounts:
            if other is not account:
                assert other.api_key_env not in read[account.label], (account.label, other.label)
                assert not read[account.label] & read[other.label], (account.label, other.label)


def test_drift_names_what_differs(tmp_path: Path) -> None:
    accounts = load_accounts(REPO / "accounts.yml")
    committed = REPO / INCLUDE_PATH
    assert drift(render(accounts), committed) == []
    data = yaml.safe_load((REPO / "accounts.yml").read_text())
    data["apis"]["crm"]["accounts"].append({"name": "newco", "api_key_env": "CRM_NEWCO_API_KEY"})
    data["apis"]["crm"]["accounts"][0]["base_url"] = "https://eu.api.example.com"
    changed = parse_accounts(data, tmp_path / "accounts.yml")
    problems = drift(render(changed), committed)
    assert "missing plugin tap-crm--newco" in problems
    assert any(p.startswith("plugin tap-crm--acme differs") and "eu.api.example.com" in p for p in problems)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["apis"].update(erp={"accounts": []}), "apis.erp: unknown API"),
        (lambda d: d["apis"]["crm"]["accounts"][0].update(api_key_env="sk-live-123"), "never the key itself"),
        (lambda d: d["apis"]["crm"]["accounts"][1].update(name="acme"), "accounts[acme]: listed twice"),
        (
            lambda d: d["apis"]["crm"]["accounts"][1].update(schema="crm_acme"),
            "schema 'crm_acme' is also that of crm/acme",
        ),
        # Issue 25: no account reads another's key, nor a base plugin's.
        (
            lambda d: d["apis"]["crm"]["accounts"].append(
                {"name": "legacy", "api_key_env": "CRM_LEGACY_API_KEY", "schema": "crm_acme"}
            ),
            "accounts[legacy]: schema 'crm_acme' is also that of crm/acme: crm/legacy and crm/acme",
        ),
        (
            lambda d: d["apis"]["crm"]["accounts"][1].update(schema="tap_crm"),
            "schema 'tap_crm' is also that of the base plugin tap-crm",
        ),
        (
            lambda d: d["apis"]["leads"]["accounts"][0].update(api_key_env="CRM_ACME_API_KEY"),
            "key variable 'CRM_ACME_API_KEY' is also that of crm/acme: leads/acme and crm/acme",
        ),
        (
            lambda d: d["apis"]["crm"]["accounts"][1].update(api_key_env="TAP_CRM_API_KEY"),
            "api_key_env 'TAP_CRM_API_KEY': Meltano reads TAP_*/TARGET_*/MELTANO_* as plugins' settings",
        ),
        (
            lambda d: d["apis"]["crm"]["accounts"][1].update(api_key_env="TARGET_POSTGRES_BULK_PASSWORD"),
            "Meltano reads TAP_*/TARGET_*/MELTANO_*",
        ),
        (lambda d: d["apis"]["crm"]["accounts"][0].update(base_url="ftp://x"), "is not an http(s) URL"),
        (lambda d: d["apis"]["crm"]["accounts"][0].update(token="x"), "unknown keys ['token']"),
        (lambda d: d["apis"]["crm"].update(max_parallel=0), "max_parallel: expected a positive integer"),
    ],
)
def test_bad_accounts_file_fails_with_one_line(change, message, tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "accounts.yml").read_text())
    change(data)
    with pytest.raises(AccountsError) as caught:
        parse_accounts(data, tmp_path / "accounts.yml")
    text = str(caught.value)
    assert message in text and "\n" not in text, text


def test_missing_key_variable_is_named_not_guessed() -> None:
    account = load_accounts(REPO / "accounts.yml").all()[0]
    with pytest.raises(RuntimeError, match=f"{account.api_key_env} holding its API key is not set"):
        account.api_key({})
    assert account.api_key({account.api_key_env: "k"}) == "k"


def test_duckdb_file_per_account_goes_through_the_loaders_own_variable(tmp_path: Path) -> None:
    """The per-account DuckDB file is set through the variable Meltano itself names for the loader's
    `filepath` (`meltano config list`), not one we guess; a wrong name would land every account in the
    project's default file."""
    from orchestration.meltano_assets import MeltanoResource
    from orchestration.settings import DUCKDB_LOADER

    account = load_accounts(REPO / "accounts.yml").all()[0]
    resource = MeltanoResource(project_root=str(REPO), loader=DUCKDB_LOADER, duckdb_dir=str(tmp_path))
    env = resource.run_env(account)
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "meltano"), "config", "list", DUCKDB_LOADER],
        cwd=REPO, capture_output=True, text=True, check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", str(tmp_path)),
             "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path}/meltano.db", "MELTANO_PROJECT_ROOT": str(REPO),
             "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "NO_COLOR": "1"},
    )  # fmt: skip
    found = re.search(r"^filepath \[env: (\w+)\]", listed.stdout, re.M)
    assert found, listed.stdout + listed.stderr
    variable = found.group(1)
    assert env.get(variable) == str(tmp_path / f"meltano_{account.schema}.duckdb"), (variable, env)


def test_a_runs_environment_is_its_accounts_and_its_loaders_alone(tmp_path: Path) -> None:
    """The allow-list of a run's environment, by name (the run itself is tests/test_orchestration.py):
    account acme_eu's variables begin with acme's prefix, target-postgres-bulk's with target-postgres's;
    neither reaches the other's run."""
    from orchestration.meltano_assets import MeltanoResource

    accounts = parse_accounts(
        {"apis": {"crm": {"accounts": [{"name": "acme", "api_key_env": "K_ACME"},
                                       {"name": "acme_eu", "api_key_env": "K_ACME_EU"}]}}},
        tmp_path / "accounts.yml",
    )  # fmt: skip
    acme = accounts.apis["crm"].account("acme")
    deployment = {
        "PATH": "/usr/bin", "HOME": "/root", "MELTANO_DATABASE_URI": "sqlite:///m.db",
        "K_ACME": "acme-key", "TAP_CRM__ACME_BASE_URL": "https://acme", "TAP_CRM__ACME__CATALOG": "c.json",
        "TAP_CRM_MAX_RETRIES": "5",
        "K_ACME_EU": "eu-key", "TAP_CRM__ACME_EU_API_KEY": "eu-key", "TAP_CRM_API_KEY": "base-key",
        "MELTANO_EXTRACT_API_KEY": "any-key", "DAGSTER_PG_URL": "postgresql://d:pw@h/d",
        "TARGET_POSTGRES_BULK_PASSWORD": "bulk-pw", "TARGET_POSTGRES_PASSWORD": "stock-pw",
    }  # fmt: skip
    wanted = {"PATH", "HOME", "MELTANO_DATABASE_URI", "K_ACME", "TAP_CRM__ACME_BASE_URL",
              "TAP_CRM__ACME__CATALOG", "TAP_CRM_MAX_RETRIES"}  # fmt: skip
    loaders = {"target-postgres-bulk": "TARGET_POSTGRES_BULK_PASSWORD",
               "target-postgres": "TARGET_POSTGRES_PASSWORD", "target-duckdb-bulk": None}  # fmt: skip
    for loader, password in loaders.items():
        resource = MeltanoResource(project_root=str(REPO), loader=loader, duckdb_dir=str(tmp_path))
        passed = set(resource.passed_env(acme, deployment))
        assert passed == wanted | ({password} if password else set()), loader
