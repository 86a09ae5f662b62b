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
"""

from __future__ import annotations

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
    schemas: dict[str, str] = {}
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
            if schema in schemas:
                raise fail(where, f"schema {schema!r} is already the schema of {schemas[schema]}")
            schemas[schema] = f"{api_name}/{name}"
            base_url = entry.get("base_url")
            if base_url is not None:
                parts = urlsplit(str(base_url))
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise fail(where, f"base_url {base_url!r} is not an http(s) URL")
                base_url = str(base_url)
            accounts.append(Account(api_name, name, key_env, schema, base_url))
        apis[api_name] = Api(api_name, tuple(accounts), max_parallel)
    return Accounts(path, apis)
