"""The sandbox's own OpenAPI 3.1 document: the "vendor documentation" of each fake API."""

from __future__ import annotations

from typing import Any

from .apis import DEFAULT_PAGE_SIZE, ApiDef, ResourceSpec, record_schema

_SECURITY = {
    "raw": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "The raw API key as the whole value of the Authorization header (no scheme prefix).",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <api key>`.",
    },
    "x-api-key": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-KEY",
        "description": "The API key in the X-API-KEY header.",
    },
}

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error", "message"],
}


def _err(description: str, retry_after: bool = False) -> dict[str, Any]:
    resp: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ERROR}},
    }
    if retry_after:
        resp["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait, or an HTTP date. May be absent.",
                "schema": {"type": "string"},
            }
        }
    return resp


def build_openapi(api: ApiDef, specs: list[ResourceSpec], base_url: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}  # record schemas only, keyed by resource name
    for spec in specs:
        res = api.resource(spec.name)
        schemas[spec.name] = record_schema(api, res)
        rel = spec.path[len(api.base_path) :]
        params: list[dict[str, Any]] = []
        if spec.paginated:
            params = [
                {
                    "name": spec.offset_param,
                    "in": "query",
                    "required": False,
                    "description": "Zero-based index of the first record. Past the end: an empty list.",
                    "schema": {"type": "integer", "minimum": 0, "default": 0},
                },
                {
                    "name": spec.size_param,
                    "in": "query",
                    "required": False,
                    "description": (
                        f"Page size. Default {DEFAULT_PAGE_SIZE}; values above {spec.max_page_size} are "
                        "clamped silently (the page is then shorter than asked: advance the offset by the "
                        "number of records received)."
                    ),
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "default": DEFAULT_PAGE_SIZE,
                        "maximum": spec.max_page_size,
                    },
                },
            ]
        envelope = {
            "type": "object",
            "properties": {
                spec.selector: {"type": "array", "items": {"$ref": f"#/components/schemas/{spec.name}"}}
            },
            "required": [spec.selector],
        }
        op: dict[str, Any] = {
            "operationId": f"list_{spec.name}",
            "summary": f"List {spec.name}",
            "description": (
                res.description
                + (
                    f" Offset-paginated: `{spec.offset_param}` + `{spec.size_param}`, ordered by id."
                    if spec.paginated
                    else " Not paginated: every record in one response; paging parameters are ignored."
                )
            ),
            "tags": [spec.name],
            "parameters": params,
            "responses": {
                "200": {
                    "description": f"The records, under `{spec.selector}`.",
                    "content": {"application/json": {"schema": envelope}},
                },
                "400": _err("Invalid paging parameter (negative or not an integer)."),
                "401": _err("Missing or wrong API key."),
                "429": _err("Too many requests; retry later.", retry_after=True),
                "500": _err("Server error; retry."),
                "502": _err("Bad gateway; retry."),
                "503": _err("Service unavailable; retry.", retry_after=True),
                "504": _err("Gateway timeout; retry."),
            },
            "x-data-selector": spec.selector,
            "x-primary-key": "id",
        }
        if spec.paginated:
            op["x-pagination"] = {
                "type": "offset",
                "offset_param": spec.offset_param,
                "limit_param": spec.size_param,
                "document_limit": spec.page_size,
                "default_limit": DEFAULT_PAGE_SIZE,
                "max_limit": spec.max_page_size,
                "total": None,
            }
        paths[rel] = {"get": op}
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": api.title,
            "version": "1.0.0",
            "description": (
                "Local fake served by api-sandbox. GET only. Errors are JSON "
                '`{"error": ..., "message": ...}`. Clients should retry 429, 500, 502, 503 and 504 '
                "(at most 3 retries, backoff factor 2), honouring Retry-After when present."
            ),
        },
        "servers": [{"url": base_url}],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {"securitySchemes": {"apiKey": _SECURITY[api.auth]}, "schemas": schemas},
    }
