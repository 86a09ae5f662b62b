"""Bad config and state files: one line naming the file or setting, before any request; a bookmark that
cannot be used is dropped with a warning and the stream starts again; never a traceback, never an
unusable state written back."""

from __future__ import annotations

import json
import subprocess

import pytest

from api_sandbox import run_sandbox
from tapkit.testing import BIN, run_tap, tap_config


def run_with_files(tmp_path, config: str, state: str | None = None) -> subprocess.CompletedProcess:
    """The tap with config (and state) files holding exactly ``config`` and ``state``."""
    args = [str(BIN / "tap-crm"), "--config", str(tmp_path / "config.json")]
    (tmp_path / "config.json").write_text(config)
    if state is not None:
        (tmp_path / "state.json").write_text(state)
        args += ["--state", str(tmp_path / "state.json")]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line or "CRITICAL" in line]


@pytest.fixture(scope="module")
def sandbox():
    with run_sandbox("crm", records=45) as sb:
        yield sb


@pytest.fixture(autouse=True)
def fresh_log(sandbox):
    sandbox.reset()


GOOD = None  # placeholder for "the sandbox's config" in the table below


@pytest.mark.parametrize(
    ("config", "state", "says"),
    [
        ("{not json", None, "config file {dir}/config.json: not JSON"),
        ("[1, 2]", None, "config file {dir}/config.json: expected a JSON object, got list"),
        (GOOD, "{not json", "state file {dir}/state.json: not JSON"),
        (GOOD, "[]", "state file {dir}/state.json: expected a JSON object, got list"),
        (GOOD, '{"bookmarks": []}', "state: 'bookmarks' is not an object (list)"),
    ],
    ids=["config-not-json", "config-list", "state-not-json", "state-list", "bookmarks-list"],
)
def test_unreadable_files_fail_in_one_line_before_any_request(tmp_path, sandbox, config, state, says):
    config = config if config is not GOOD else json.dumps(tap_config(sandbox.base_url))
    proc = run_with_files(tmp_path, config, state)
    assert proc.returncode == 1
    assert sandbox.request_log() == []
    assert "Traceback" not in proc.stderr
    errors = error_lines(proc.stderr)
    assert len(errors) == 1 and says.format(dir=tmp_path) in errors[0], proc.stderr


def test_a_missing_config_file_is_named(tmp_path):
    proc = subprocess.run(
        [str(BIN / "tap-crm"), "--config", str(tmp_path / "nowhere.json")], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"config file {tmp_path}/nowhere.json: no such file" in error_lines(proc.stderr)[0]


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"user_agent": "tap\r\nX-Injected: 1"}, "user_agent: contains control characters"),
        ({"api_key": "sandbox-\x00key"}, "api_key: contains control characters"),
        ({"request_timeout": 0}, "request_timeout: 0 is too small (it must be more than 0)"),
        ({"max_pages": 0}, "max_pages: 0 is too small (minimum 1)"),
        ({"max_retries": 1.5}, "max_retries: 1.5 is not a whole number"),
        ({"max_backoff_seconds": "soon"}, "max_backoff_seconds: 'soon' is not a number"),
    ],
)
def test_bad_settings_fail_in_one_line_before_any_request(sandbox, settings, says):
    run = run_tap("tap-crm", tap_config(sandbox.base_url, **settings))
    assert run.returncode == 1
    assert sandbox.request_log() == []
    assert "Traceback" not in run.stderr
    assert len(run.errors) == 1 and says in run.errors[0], run.stderr
    assert "\r\n" not in run.errors[0]


def test_fractional_and_string_numbers_are_settings_like_any_other(sandbox):
    config = tap_config(
        sandbox.base_url,
        max_requests_per_second=50.5,  # a float/Decimal TypeError once ended the run here
        backoff_factor="0.5",
        max_retries="2",
        max_concurrency=4.0,
        request_timeout=2.5,
    )
    run = run_tap("tap-crm", config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.ids("tasks") == sandbox.truth("tasks")


def test_a_misspelt_setting_is_named_with_the_closest_known_one(sandbox):
    config = tap_config(sandbox.base_url)
    config["api_kye"] = config["api_key"]
    config["page_overlapp"] = 2
    run = run_tap("tap-crm", config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "unknown setting 'api_kye' is ignored; did you mean 'api_key'?" in run.stderr
    assert "unknown setting 'page_overlapp' is ignored; did you mean 'page_overlap'?" in run.stderr
    assert "sandbox-key" not in run.stderr  # the value of a misspelt key is a key too


def test_a_key_with_whitespace_around_it_is_stripped_with_a_warning(sandbox):
    run = run_tap("tap-crm", tap_config(sandbox.base_url, api_key="  sandbox-key\n"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "api_key has whitespace around it: it is stripped" in run.stderr
    assert run.ids("tasks") == sandbox.truth("tasks")


# -- bookmarks that cannot be used -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bookmark", "says"),
    [
        ({"resume": {"offset": True}}, "'resume.offset' is not a non-negative integer: True (bool)"),
        ({"resume": {"offset": -5}}, "'resume.offset' is not a non-negative integer: -5 (int)"),
        ({"resume": {"offset": "20"}}, "'resume.offset' is not a non-negative integer: '20' (str)"),
        ({"resume": {"offset": 20, "anchors": [[1]]}}, "'resume.anchors' is not a list of scalar ids"),
        ({"resume": {"offset": 20, "anchors": [190], "digests": [1]}}, "'resume.digests' is not a list"),
        ({"resume": [20]}, "'resume' is not an object"),
        ("tasks at 20", "the bookmark is not an object: 'tasks at 20' (str)"),
    ],
    ids=[
        "offset-bool",
        "offset-negative",
        "offset-string",
        "anchors-nested",
        "digests",
        "resume-list",
        "str",
    ],
)
def test_an_unusable_bookmark_restarts_its_stream_with_a_warning(sandbox, bookmark, says):
    state = {"bookmarks": {"tasks": bookmark, "users": {"resume": {"offset": 20}}}}
    run = run_tap("tap-crm", tap_config(sandbox.base_url, max_concurrency=1), state=state)
    assert run.returncode == 0, run.stderr[-2000:]
    warning = f"state: stream 'tasks': {says}"
    assert warning in run.stderr and "the stream starts again from offset 0" in run.stderr, run.stderr
    tasks = [r["query"] for r in sandbox.request_log() if r["path"] == "/v1/tasks"]
    assert tasks[0]["offset"] == "0" and all(q["offset"] != "True" for q in tasks)
    assert run.ids("tasks") == sandbox.truth("tasks")
    assert run.ids("users") == sandbox.truth("users")[20:]  # the usable bookmark beside it still counts
    # The unusable bookmark is never written back, not even in the first STATE echoed.
    for state_message in run.states:
        resume = state_message["bookmarks"].get("tasks", {}).get("resume")
        assert resume is None or (isinstance(resume.get("offset"), int) and resume["offset"] >= 0)
    # and a rerun from the last state of the run works (no crash on its own state)
    rerun = run_tap("tap-crm", tap_config(sandbox.base_url), state=run.states[-1])
    assert rerun.returncode == 0, rerun.stderr[-2000:]


def test_a_resume_point_past_the_end_warns(sandbox):
    state = {"bookmarks": {"tasks": {"resume": {"offset": 500}}}}
    run = run_tap("tap-crm", tap_config(sandbox.base_url, max_concurrency=1), state=state)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.ids("tasks") == []
    assert "resuming at offset 500, the first page is empty" in run.stderr
