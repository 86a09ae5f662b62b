"""singer-sdk's standard tap tests, against a local leads sandbox over real HTTP."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class

from api_sandbox import run_sandbox
from tap_leads.tap import TapLeads
from tapkit.testing import tap_config

SANDBOX = run_sandbox("leads", records=45, seed=11)
atexit.register(SANDBOX.stop)

TestTapLeads = get_tap_test_class(TapLeads, config=tap_config(SANDBOX.base_url))
