"""singer-sdk's standard tap tests, against a local crm sandbox over real HTTP."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class

from api_sandbox import run_sandbox
from tap_crm.tap import TapCRM
from tapkit.testing import tap_config

SANDBOX = run_sandbox("crm", records=45, seed=11)
atexit.register(SANDBOX.stop)

TestTapCRM = get_tap_test_class(TapCRM, config=tap_config(SANDBOX.base_url))
