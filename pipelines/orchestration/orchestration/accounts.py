"""The accounts file: per API, the accounts to sync, each with the environment variable holding its key.

```yaml
apis:
  crm:
    max_parallel: 2               # syncs of this API at once, across all runs (a Dagster pool)
    accounts:
    - name: acme                  # partition key; Meltano plugin tap-crm--acme
      api_key_env: CRM_ACME_API_KEY   # the variable's name, never the key
      schema: crm_acme            # target schema (default <api>_<name>)
      base_url: https://eu.api.example.com   # only when not the API's default
```

Loading validates everything and fails with one line naming the file, the API, the account and the
field. Nothing here reads a key: `Account.api_key()` is called by the runners, at run time.

Accounts stay apart: each account's Meltano extractor `tap-<api>--<name>` has the namespace
`tap_<api>__<name>` (from the API and the name, never from the schema), so the variables Meltano reads for
its settings (`TAP_CRM__ACME_API_KEY`, `TAP_CRM__ACME_BASE_URL`, ...) are its own. The validator refuses two
accounts (or an account and a base plugin) that would share a schema, a namespace, a state id, a key
variable or any variable Meltano reads for a setting, naming both; and a key variable that Meltano itself
reads as a plugin's setting (`TAP_*`, `TARGET_*`, `MELTANO_*`).
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

APIS = ("crm", "projects", "leads")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*$")
ACCOUNT_FIELDS = {"name", "api_key_env", "schema", "base_url"}
API_FIELDS = {"accounts", "max_parallel"}
DEFAULT_MAX_PARALLEL = 4
# Tags on every run of one account: the run queue allows one run per account (per key) at a time.
ACCOUNT_TAG = "rest-taps/account"
API_TAG = "rest-taps/api"
# Prefixes of the variables Meltano reads as plugins' settings: a key variable named so would be read as
# some plugin's setting (another account's, a base tap's, a loader's) or handed to every plugin.
MELTANO_SETTING_PREFIXES = ("TAP_", "TARGET_", "MELTANO_")
# Meltano's extras of an extractor (`TAP_CRM__ACME__CATALOG`, ...): variables it reads for them too.
EXTRACTOR_EXTRAS = ("catalog", "state", "load_schema", "select", "metadata", "select_filter")


def setting_names(api: str) -> list[str]:
    """The tap's settings (its config schema) and Meltano's extractor extras (`_catalog`, ...)."""
    from tapkit import RestTap

    module = importlib.import_module(f"tap_{api}.tap")
    settings: list[str] = []
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, RestTap) and value is not RestTap:
            tap: type[RestTap] = value
            settings = list(tap.config_jsonschema.get("properties", {}))
            break
    return settings + [f"_{extra}" for extra in EXTRACTOR_EXTRAS]


def meltano_variables(prefix: str, settings: list[str]) -> list[str]:
    """The variables Meltano reads for each setting of a plugin with env prefix `prefix` (`TAP_CRM__ACME`)."""
    return [f"{prefix}_{setting}".upper() for setting in settings]


class AccountsError(ValueError):
    """The accounts file is wrong; the message is one line naming where."""


class MissingKeyError(RuntimeError):
    """An account's key variable is not set (or empty) where the sync runs."""


@dataclass(frozen=True)
class Account:
    api: str
    name: str
    api_key_env: str
    schema: str
    base_url: str | None = None

    @property
    def extractor(self) -> str:
        """The account's Meltano extractor, inheriting from the API's tap: tap-crm--acme."""
        return f"tap-{self.api}--{self.name}"

    @property
    def namespace(self) -> str:
        """Meltano's namespace of the account's extractor: from API and name, so `<NAMESPACE>_<SETTING>`
        (the variables Meltano reads) is the account's own, whatever its schema."""
        return f"tap_{self.api}__{self.name}"

    @property
    def env_prefix(self) -> str:
        """The prefix of every variable Meltano reads for the extractor (name and namespace agree)."""
        return self.namespace.upper()

    def state_id(self, environment: str, loader: str) -> str:
        """Meltano's state id of `meltano run <extractor> <loader>` in `environment`."""
        return f"{environment}:{self.extractor}-to-{loader}"

    @property
    def label(self) -> str:
        return f"{self.api}/{self.name}"

    @property
    def run_tags(self) -> dict[str, str]:
        """Tags for every run of this account: the run queue limits runs per account (per key) on them."""
        return {API_TAG: self.api, ACCOUNT_TAG: self.label}

    def api_key(self, environ: dict[str, str] | None = None) -> str:
        value = (os.environ if environ is None else environ).get(self.api_key_env, "")
        if not value:
            raise MissingKeyError(
                f"account {self.label}: the environment variable {self.api_key_env} holding its API key "
                "is not set"
            )
        return value


@dataclass(frozen=True)
class Api:
    name: str
    accounts: tuple[Account, ...]
    max_parallel: int = DEFAULT_MAX_PARALLEL

    @property
    def pool(self) -> str:
        """The Dagster pool shared by every sync of this API."""
        return f"api_{self.name}"

    def account(self, name: str) -> Account:
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(f"no account {name!r} for API {self.name!r}")


@dataclass(frozen=True)
class Accounts:
    path: Path
    apis: dict[str, Api]

    def all(self) -> list[Account]:
        return [a for api in self.apis.values() for a in api.accounts]


def load_accounts(path: str | os.PathLike[str]) -> Accounts:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AccountsError(f"{path}: cannot read the accounts file: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise AccountsError(f"{path}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    return parse_accounts(data, path)


def parse_accounts(data: Any, path: Path) -> Accounts:
    def fail(where: str, message: str) -> AccountsError:
        return AccountsError(f"{path}: {where}: {message}")

    if not isinstance(data, dict) or not isinstance(data.get("apis"), dict):
        raise fail("top level", "expected a mapping with an 'apis' mapping (apis: {crm: {accounts: [...]}})")
    extra = set(data) - {"apis"}
    if extra:
        raise fail("top level", f"unknown keys {sorted(extra)} (only 'apis')")
    apis: dict[str, Api] = {}
    for api_name, block in data["apis"].items():
        if api_name not in APIS:
            raise fail(f"apis.{api_name}", f"unknown API (known: {', '.join(APIS)})")
        if not isinstance(block, dict) or not isinstance(block.get("accounts"), list):
            raise fail(f"apis.{api_name}", "expected a mapping with an 'accounts' list")
        if set(block) - API_FIELDS:
            raise fail(f"apis.{api_name}", f"unknown keys {sorted(set(block) - API_FIELDS)}")
        max_parallel = block.get("max_parallel", DEFAULT_MAX_PARALLEL)
        if not isinstance(max_parallel, int) or isinstance(max_parallel, bool) or max_parallel < 1:
            raise fail(f"apis.{api_name}.max_parallel", f"expected a positive integer, got {max_parallel!r}")
        accounts: list[Account] = []
        for index, entry in enumerate(block["accounts"]):
            where = f"apis.{api_name}.accounts[{index}]"
            if not isinstance(entry, dict):
                raise fail(where, "expected a mapping (name, api_key_env, schema, base_url)")
            if set(entry) - ACCOUNT_FIELDS:
                raise fail(where, f"unknown keys {sorted(set(entry) - ACCOUNT_FIELDS)}")
            name = entry.get("name")
            if not isinstance(name, str) or not NAME.match(name):
                raise fail(where, f"name {name!r}: lower-case letters, digits and _, starting with a letter")
            where = f"apis.{api_name}.accounts[{name}]"
            if any(a.name == name for a in accounts):
                raise fail(where, "listed twice")
            key_env = entry.get("api_key_env")
            if not isinstance(key_env, str) or not ENV_VAR.match(key_env):
                raise fail(
                    where,
                    f"api_key_env {key_env!r}: the NAME of the environment variable holding the key "
                    "(upper-case letters, digits and _), never the key itself",
                )
            schema = entry.get("schema", f"{api_name}_{name}")
            if not isinstance(schema, str) or not SCHEMA.match(schema):
                raise fail(where, f"schema {schema!r}: lower-case letters, digits and _")
            base_url = entry.get("base_url")
            if base_url is not None:
                parts = urlsplit(str(base_url))
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise fail(where, f"base_url {base_url!r} is not an http(s) URL")
                base_url = str(base_url)
            accounts.append(Account(api_name, name, key_env, schema, base_url))
        apis[api_name] = Api(api_name, tuple(accounts), max_parallel)
    refuse_collisions([a for api in apis.values() for a in api.accounts], fail)
    return Accounts(path, apis)


def refuse_collisions(accounts: list[Account], fail: Any) -> None:
    """No two accounts, nor an account and a base plugin, share a schema, a namespace, a state id, a key
    variable or a variable Meltano reads for a setting; the error names both."""
    taken: dict[tuple[str, str], str] = {}  # (what, value) -> who has it
    settings: dict[str, list[str]] = {}
    for api in APIS:  # the base taps: schema and namespace tap_<api>, variables TAP_<API>_<SETTING>
        taken[("schema", f"tap_{api}")] = f"the base plugin tap-{api}"
        taken[("namespace", f"tap_{api}")] = f"the base plugin tap-{api}"
    for account in accounts:
        where = f"apis.{account.api}.accounts[{account.name}]"
        if account.api_key_env.startswith(MELTANO_SETTING_PREFIXES):
            prefixes = "/".join(f"{prefix}*" for prefix in MELTANO_SETTING_PREFIXES)
            raise fail(
                where,
                f"api_key_env {account.api_key_env!r}: Meltano reads {prefixes} as plugins' settings; "
                "name the key's variable otherwise (e.g. CRM_ACME_API_KEY)",
            )
        if account.api not in settings:
            settings[account.api] = setting_names(account.api)
            for variable in meltano_variables(f"TAP_{account.api}", settings[account.api]):
                taken[("variable", variable)] = f"the base plugin tap-{account.api}"
        claims = [
            ("schema", account.schema),
            ("namespace", account.namespace),
            ("state id", account.state_id("<environment>", "<loader>")),
            ("variable", account.api_key_env),
            *(("variable", v) for v in meltano_variables(account.env_prefix, settings[account.api])),
        ]
        for what, value in claims:
            other = taken.get((what, value))
            if other is not None and other != account.label:
                shown = "key variable" if value == account.api_key_env else what
                raise fail(
                    where,
                    f"{shown} {value!r} is also that of {other}: {account.label} and {other} would share it",
                )
            taken[(what, value)] = account.label
