"""Schema drift (--drift): records with what the documents' reading does not have, served over HTTP."""

from __future__ import annotations

import pytest
import requests
from sandbox_testlib import get

from api_sandbox import Drift, parse_drift_spec, run_sandbox
from api_sandbox.cli import build_parser
from api_sandbox.launcher import SandboxProcess, serve_argv

SPECS = [
    "add,name=region,kind=string,resource=tasks,start=2",
    "add,name=reminder.snoozed,kind=boolean,resource=tasks",
    "add,name=profile,kind=object,resource=tasks,start=1,every=4",
    "retype,name=owner_id,to=string,resource=tasks,start=5",
    "add,name=rare,kind=date-time,start=3,every=10000",
]


def test_drift_adds_nested_and_rare_fields_and_changes_a_type_from_an_offset():
    with run_sandbox("crm", records=12, drift=SPECS) as sb, run_sandbox("crm", records=12) as plain:
        served = get(sb, "/v1/tasks", {"offset": 0, "limit": 20}).json()["data"]
        assert served == sb.records("tasks")  # the truth is what was sent
        base = plain.records("tasks")
        for i, (record, original) in enumerate(zip(served, base, strict=True)):
            assert ("region" in record) == (i >= 2)
            assert ("profile" in record) == (i % 4 == 1)
            assert ("rare" in record) == (i == 3)
            if isinstance(original["reminder"], dict):
                assert record["reminder"] == {
                    **original["reminder"],
                    "snoozed": record["reminder"]["snoozed"],
                }
            else:
                assert record["reminder"] == original["reminder"]  # no object to add into: left alone
            if i >= 5 and original["owner_id"] is not None:
                assert record["owner_id"] == str(original["owner_id"])
            else:
                assert record["owner_id"] == original["owner_id"]
            untouched = set(original) - {"reminder", "owner_id"}
            assert {k: record[k] for k in untouched} == {k: original[k] for k in untouched}
        assert served[5]["profile"]["geo"] == {"lat": 6.5, "lon": -6.5}
        # the rare field is on every resource, and the same on every request, at any page boundary
        assert [r.get("rare") for r in sb.records("accounts")][3] == "2024-01-01T00:04:00Z"
        assert get(sb, "/v1/tasks", {"offset": 3, "limit": 1}).json()["data"] == served[3:4]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("grow,name=x", "unknown kind of drift 'grow'"),
        ("add,kind=string", "name= is required"),
        ("add,name=a..b", "name= must name a property"),
        ("add,name=x,kind=money", "kind='money': expected one of integer, number"),
        ("retype,name=x,to=boolean", "to='boolean': expected one of string, number, object"),
        ("add,name=x,every=0", "start must be >= 0 and every >= 1"),
        ("add,name=x,start=soon", "start must be an integer"),
        ("add,name=x,colour=red", "unknown key 'colour'"),
    ],
)
def test_bad_drift_specs_say_what_is_wrong(spec, says, capsys):
    with pytest.raises(ValueError) as caught:
        parse_drift_spec(spec)
    assert says in str(caught.value)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--api", "crm", "--drift", spec])
    assert says in capsys.readouterr().err


def test_unknown_resource_is_refused():
    with pytest.raises(ValueError, match="drift names unknown resources of crm: nope"):
        run_sandbox("crm", drift=["add,name=x,resource=nope"])


def test_spec_round_trip_and_the_child_process_serves_the_drift():
    drift = parse_drift_spec("retype,name=owner_id,to=number,resource=tasks,start=1,every=2")
    assert parse_drift_spec(drift.to_spec()) == drift == Drift("retype", "owner_id", "number", "tasks", 1, 2)
    assert serve_argv("crm", drift=[drift])[-2:] == ["--drift", drift.to_spec()]
    with SandboxProcess("crm", records=4, drift=SPECS[:1]) as sb:
        truth_ids = sb.truth("tasks")
        body = requests.get(
            sb.base_url + "/v1/tasks", headers={"Authorization": "sandbox-key"}, timeout=10
        ).json()["data"]
        assert [r["id"] for r in body] == truth_ids
        assert [("region" in r) for r in body] == [False, False, True, True]
