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


def test_one_stream_per_resource_of_the_document():
    streams = TapLeads(config=tap_config(SANDBOX.base_url)).streams
    assert len(streams) == 14
    assert {(s.name, s.path) for s in streams.values()} == {
        (spec.name, spec.path.removeprefix("/v2") if "leads" == "leads" else spec.path)
        for spec in SANDBOX.resources
    }
    for spec in SANDBOX.resources:
        stream = streams[spec.name]
        assert stream.data_selector == spec.selector
        assert stream.page_size == spec.page_size
        assert stream.primary_keys == ["id"]
        if spec.paginated:
            assert (stream.offset_param, stream.size_param) == (spec.offset_param, spec.size_param)
