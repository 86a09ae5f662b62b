"""Each tap has one stream per resource of its document, with the document's path, data selector, page
size, paging parameter names and primary key (the sandbox is an independent reading of the same document)."""

from __future__ import annotations

import pytest

from api_sandbox import run_sandbox
from tap_crm.tap import TapCRM
from tap_leads.tap import TapLeads
from tap_projects.tap import TapProjects

TAPS = {"crm": (TapCRM, 11, ""), "projects": (TapProjects, 5, ""), "leads": (TapLeads, 14, "/v2")}


@pytest.mark.parametrize("api", sorted(TAPS))
def test_one_stream_per_resource_of_the_document(api):
    tap_class, count, base_path = TAPS[api]
    streams = tap_class(config={"api_key": "x"}).streams
    assert len(streams) == count
    with run_sandbox(api, records=1) as sb:
        resources = sb.resources
    assert {(s.name, s.path) for s in streams.values()} == {
        (spec.name, spec.path.removeprefix(base_path)) for spec in resources
    }
    for spec in resources:
        stream = streams[spec.name]
        assert stream.data_selector == spec.selector
        assert stream.page_size == spec.page_size
        assert stream.primary_keys == ["id"]
        if spec.paginated:
            assert (stream.offset_param, stream.size_param) == (spec.offset_param, spec.size_param)
