"""singer-sdk's standard tap tests, against a local projects sandbox over real HTTP."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class

from api_sandbox import run_sandbox
from tap_projects.tap import TapProjects
from tapkit.testing import tap_config

SANDBOX = run_sandbox("projects", records=45, seed=11)
atexit.register(SANDBOX.stop)

TestTapProjects = get_tap_test_class(TapProjects, config=tap_config(SANDBOX.base_url))
