"""One sandbox per account of an accounts file, for the orchestrated demo and the bench: each with its own
key and seed, so each account has other data. Development only: the code location (the `orchestration`
package) never imports the sandbox."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from api_sandbox.launcher import SandboxProcess
from orchestration.accounts import Account, Accounts


@dataclass
class AccountSandbox:
    account: Account
    api_key: str
    sandbox: SandboxProcess

    def env(self) -> dict[str, str]:
        """The account's key in its variable, and its base URL for its Meltano extractor."""
        prefix = self.account.extractor.upper().replace("-", "_")
        return {self.account.api_key_env: self.api_key, f"{prefix}_BASE_URL": self.sandbox.base_url}


@contextlib.contextmanager
def account_sandboxes(
    accounts: Accounts, records: int | Mapping[str, int], latency_ms: int = 0, **flags: Any
) -> Iterator[list[AccountSandbox]]:
    """One sandbox per account, each with its own key and seed (so each account has other data)."""
    started: list[AccountSandbox] = []
    try:
        for seed, account in enumerate(accounts.all(), start=1):
            key = f"key-{account.api}-{account.name}-{os.urandom(4).hex()}"
            count = records if isinstance(records, int) else records[account.api]
            sandbox = SandboxProcess(
                account.api, api_key=key, seed=seed, records=count, latency_ms=latency_ms, **flags
            )
            started.append(AccountSandbox(account, key, sandbox))
        yield started
    finally:
        for item in started:
            item.sandbox.stop()
