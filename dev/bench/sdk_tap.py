"""A plain singer-sdk tap for one projects resource, with the SDK's defaults everywhere.

The baseline "what you get from the cookiecutter": a RESTStream with a JSONPath selector, the
SDK's own offset paginator (advances by the page size, stops on the first empty page), the
default message writer (SimpleSingerWriter: simplejson, a flush per message), default type
conformance, one request at a time. Run as ``python -m bench.sdk_tap --config CFG --catalog CAT``
with ``{"base_url": ..., "api_key": ..., "resource": "activities"}``.
"""

from __future__ import annotations

import json
import typing as t
from importlib import resources

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.pagination import BaseOffsetPaginator
from singer_sdk.streams import RESTStream

# name -> (path, data selector, page size, page-size parameter), as the projects document says.
RESOURCES: dict[str, tuple[str, str, int, str]] = {
    "tasks": ("/v1/tasks", "results", 100, "size"),
    "activities": ("/v1/activities", "activity", 1000, "size"),
    "files": ("/v1/files", "files", 1000, "size"),
}


def _schema(name: str) -> dict:
    return json.loads(resources.files("tap_projects.schemas").joinpath(f"{name}.json").read_text())


class PlainStream(RESTStream):
    primary_keys: t.ClassVar[list[str]] = ["id"]
    page_size = 1000
    size_param = "size"

    @property
    def url_base(self) -> str:
        return str(self.config["base_url"]).rstrip("/")

    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.config["api_key"])

    def get_new_paginator(self) -> BaseOffsetPaginator:
        return BaseOffsetPaginator(start_value=0, page_size=self.page_size)

    def get_url_params(self, context: t.Any, next_page_token: t.Any) -> dict[str, t.Any]:
        return {"from": next_page_token or 0, self.size_param: self.page_size}


def _stream_class(name: str) -> type[PlainStream]:
    path, selector, page_size, size_param = RESOURCES[name]
    return type(
        f"Plain_{name}",
        (PlainStream,),
        {
            "name": name,
            "path": path,
            "records_jsonpath": f"$.{selector}[*]",
            "page_size": page_size,
            "size_param": size_param,
            "schema": _schema(name),
        },
    )


class TapPlainSDK(Tap):
    name = "tap-plain-sdk"
    config_jsonschema = th.PropertiesList(
        th.Property("base_url", th.StringType, required=True),
        th.Property("api_key", th.StringType, required=True),
        th.Property("resource", th.StringType, required=True),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        return [_stream_class(self.config["resource"])(tap=self)]


if __name__ == "__main__":
    TapPlainSDK.cli()
