"""The compiled conformer gives what singer-sdk's conform_record_data_types gives, on every schema
of the three taps and on records made odd on purpose (undeclared fields, 0/1 for booleans)."""

from __future__ import annotations

import copy
import logging
import random

import pytest
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel

from api_sandbox import run_sandbox
from tap_crm.tap import TapCRM
from tap_leads.tap import TapLeads
from tap_projects.tap import TapProjects
from tapkit.conform import compile_conformer

TAPS = {"crm": TapCRM, "projects": TapProjects, "leads": TapLeads}


def oddify(value, schema, rng):
    """Add undeclared keys at every object level and turn booleans into 0/1 now and then."""
    if isinstance(value, dict) and "properties" in schema:
        for name, sub in schema["properties"].items():
            if name in value:
                value[name] = oddify(value[name], sub, rng)
        if rng.random() < 0.5:
            value[f"extra_{rng.randint(0, 3)}"] = {"nested": [1, 2]}
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [oddify(v, schema["items"], rng) for v in value]
    elif isinstance(value, bool) and rng.random() < 0.5:
        return int(value)
    return value


@pytest.mark.parametrize("api", sorted(TAPS))
def test_same_result_as_the_sdk(api):
    rng = random.Random(7)
    logger = logging.getLogger("test")
    with run_sandbox(api, records=40) as sb:
        tap = TAPS[api](config={"api_key": "x"})
        for stream in tap.streams.values():
            conform = compile_conformer(stream.schema)
            assert conform is not None
            for record in sb.records(stream.name):
                odd = oddify(copy.deepcopy(record), stream.schema, rng)
                expected = conform_record_data_types(
                    stream.name, copy.deepcopy(odd), stream.schema, TypeConformanceLevel.RECURSIVE, logger
                )
                unmapped: list[str] = []
                assert conform(copy.deepcopy(odd), unmapped, None) == expected
                assert all(part.startswith("extra_") for path in unmapped for part in path.split(".")[-1:])
