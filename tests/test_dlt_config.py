"""The dlt variant's configurations against the seed documents they reproduce, and the retry
session they really use. No network."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator, SinglePagePaginator
from dlt.sources.rest_api.config_setup import create_paginator
from requests import Request, Response

from dlt_sources import (
    MODULES,
    RECEIVED_OFFSET,
    SOURCES,
    ReceivedCountOffsetPaginator,
    endpoint_paginator,
    rest_api_config,
    retrying_session,
)

# The seed documents, copied into the repository so that a plain clone runs this test.
SEEDS = Path(__file__).resolve().parent / "fixtures" / "seeds"


def document_config(module: Any) -> dict[str, Any]:
    """The rest_api_source({...}) literal of a seed document, with the secret replaced by a marker."""
    path = SEEDS / module.DOCUMENT
    code = re.search(r"```python\n(.*?)```", path.read_text(), re.S)
    assert code, f"{path} has no python block"
    literal = code.group(1).split("rest_api_source(", 1)[1].rsplit(")", 1)[0]
    literal = literal.replace('dlt.secrets["api_key"]', '"<secret>"')
    parsed: dict[str, Any] = ast.literal_eval(literal)
    return parsed


def expected_from_document(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply exactly the deviations the modules and README list, nothing else."""
    out = []
    for resource in doc["resources"]:
        endpoint = dict(resource["endpoint"])
        paginator = endpoint.get("paginator")
        if paginator is None:
            endpoint["paginator"] = {"type": "single_page"}  # deviation: say single_page
        else:
            paginator = dict(paginator)
            assert paginator.pop("type") == "offset"
            paginator["type"] = RECEIVED_OFFSET  # deviation: advance by records received
            paginator["limit_param"] = paginator.pop("size_param", "limit")  # size_param -> limit_param
            paginator.setdefault("offset_param", "offset")
            paginator["total_path"] = None  # deviation: no total in the responses
            endpoint["paginator"] = paginator
        endpoint["method"] = "GET"
        out.append({"name": resource["name"], "endpoint": endpoint})
    return out


@pytest.mark.parametrize("api", sorted(MODULES))
def test_config_is_the_document_with_listed_deviations(api: str) -> None:
    module = MODULES[api]
    doc = document_config(module)
    ours = rest_api_config(
        base_url=module.DEFAULT_BASE_URL,
        auth={**module.AUTH},
        resources=module.RESOURCES,
        session=retrying_session(),
    )
    assert ours["client"]["base_url"] == doc["client"]["base_url"]
    doc_auth = {k: v for k, v in doc["client"]["auth"].items() if v != "<secret>"}
    assert ours["client"]["auth"] == doc_auth
    assert (
        ours["resource_defaults"]
        == doc["resource_defaults"]
        == {"primary_key": "id", "write_disposition": "merge"}
    )
    got = [
        {"name": r["name"], "endpoint": {k: v for k, v in r["endpoint"].items() if k != "response_actions"}}  # type: ignore[index,union-attr]
        for r in ours["resources"]
    ]
    assert got == expected_from_document(doc)


@pytest.mark.parametrize("api", sorted(SOURCES))
def test_built_source_uses_loss_free_paginator(api: str) -> None:
    source = SOURCES[api](api_key="k", base_url="http://127.0.0.1:9")
    module = MODULES[api]
    assert list(source.resources) == [row.name for row in module.RESOURCES]
    for row in module.RESOURCES:
        resource = source.resources[row.name]
        assert resource.write_disposition == "merge"
        assert resource.compute_table_schema()["columns"]["id"]["primary_key"] is True
        # The paginator dlt's rest_api builds from our config for this resource.
        paginator = create_paginator(endpoint_paginator(row))
        if row.paginated:
            assert isinstance(paginator, ReceivedCountOffsetPaginator)
            assert paginator.limit == row.page_size
            assert (paginator.param_name, paginator.limit_param) == (row.offset_param, row.size_param)
            assert paginator.total_path is None
        else:
            assert isinstance(paginator, SinglePagePaginator)


def test_retry_session_is_exactly_the_documents_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    # dlt's [runtime] settings must not leak into the session: set them to something else.
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "9")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "7")
    retrying = retrying_session().send.retry  # type: ignore[attr-defined]
    assert retrying.stop.max_attempt_number == 4  # 3 retries
    assert retrying.wait.multiplier == 2
    assert type(retrying.wait).__name__ == "wait_exponential_retry_after"  # Retry-After honoured
    statuses: set[int] = set()
    for condition in retrying.retry.retries:
        statuses |= getattr(condition, "status_codes", set())
    assert statuses == {429, 500, 502, 503, 504}


def test_paginator_refuses_a_total_path() -> None:
    with pytest.raises(ValueError, match="total_path"):
        ReceivedCountOffsetPaginator(limit=10, total_path="total")  # type: ignore[arg-type]
    assert issubclass(ReceivedCountOffsetPaginator, OffsetPaginator)


def _response(url: str) -> Response:
    response = Response()
    response.status_code = 200
    response.url = url
    return response


def test_paginator_advances_by_received_and_stops_on_empty_page() -> None:
    paginator = ReceivedCountOffsetPaginator(limit=100, offset_param="from", limit_param="size")
    request = Request("GET", "http://api/v1/tasks")
    paginator.init_request(request)
    assert request.params == {"from": 0, "size": 100}
    paginator.update_state(_response("http://api/v1/tasks?from=0"), [{"id": i} for i in range(40)])
    paginator.update_request(request)
    # advanced by the 40 received, less the one read again: a short page is no end
    assert request.params == {"from": 39, "size": 100} and paginator.has_next_page
    page = [{"id": 39}]  # the last record again, and nothing after it: the end
    paginator.update_state(_response("http://api/v1/tasks?from=39"), page)
    assert page == [] and not paginator.has_next_page  # the record read twice is not yielded twice
