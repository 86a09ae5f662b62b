"""The settings of every tap built on the kit (shown by ``--about``), and how their values are read.

Declared as singer-sdk's ``th.PropertiesList``, as the SDK's cookiecutter and the loader kit do. Each is a
``Setting``: a ``th.Property`` of one JSON type that is not nullable (a setting given as null is refused
as any other wrong type is, never taken for "unset").
"""

from __future__ import annotations

import math
import typing as t
from decimal import Decimal

from singer_sdk import typing as th

from tapkit.contract import CONTRACTS, DEFAULT_CONTRACT

if t.TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

# Settings sent in a request header: control characters there would split or corrupt the header.
HEADER_SETTINGS = ("api_key", "user_agent")


class Setting(th.Property):
    """A ``th.Property`` without the ``null`` the SDK adds to optional ones, its keys in the order the
    plugin definitions have always shown: type, constraints, default, title, description."""

    def to_dict(self) -> dict:
        schema = super().to_dict()[self.name]
        kinds = [kind for kind in schema.pop("type") if kind != "null"]
        last = {key: schema.pop(key) for key in ("default", "title", "description") if key in schema}
        return {self.name: {"type": kinds[0] if len(kinds) == 1 else kinds, **schema, **last}}


def kit_settings(default_base_url: str) -> tuple[Setting, ...]:
    """The kit's settings; ``base_url`` defaults to the tap's API."""
    return (
        Setting(
            "api_key",
            th.StringType(min_length=1),
            required=True,
            secret=True,
            title="API key",
            description="The API key. Never logged, never written to state.",
        ),
        Setting(
            "base_url",
            th.StringType,
            default=default_base_url,
            title="Base URL",
            description=f"Base URL of the API (http or https). Default: {default_base_url}",
        ),
        Setting(
            "max_retries",
            th.IntegerType(minimum=0),
            default=3,
            title="Max retries",
            description="Retries after a 429, 500, 502, 503, 504, dropped connection or timeout "
            "(3 retries = 4 attempts).",
        ),
        Setting(
            "backoff_factor",
            th.NumberType(minimum=0),
            default=2,
            title="Backoff factor",
            description="Wait factor * 2^(n-1) seconds before retry n (2, 4, 8 s by default), unless "
            "the server's Retry-After says otherwise.",
        ),
        Setting(
            "request_timeout",
            th.NumberType(exclusive_minimum=0),
            default=60,
            title="Request timeout",
            description="Seconds to wait for a response before the attempt counts as failed.",
        ),
        Setting(
            "max_concurrency",
            th.IntegerType(minimum=1),
            default=8,
            title="Max concurrency",
            description="Pages of one stream requested at the same time. Records are still written "
            "strictly in page order; 1 fetches one page after another.",
        ),
        Setting(
            "max_requests_per_second",
            th.NumberType(exclusive_minimum=0),
            title="Max requests per second",
            description="Optional ceiling on the request rate of the whole tap. A 429 response also "
            "pauses all requests and halves the pages in flight.",
        ),
        Setting(
            "max_backoff_seconds",
            th.NumberType(exclusive_minimum=0),
            default=60,
            title="Max backoff seconds",
            description="Ceiling on one backoff wait, jitter included, however many retries.",
        ),
        Setting(
            "max_retry_after_seconds",
            th.NumberType(minimum=0),
            default=300,
            title="Max Retry-After seconds",
            description="The longest Retry-After the tap waits for. A server asking for longer ends "
            "the stream with an error that says so, instead of a sync that looks hung.",
        ),
        Setting(
            "max_pages",
            th.IntegerType(minimum=1),
            title="Max pages",
            description="Optional ceiling on the requests of one stream: a listing that would need "
            "more ends the stream with an error (a guard against APIs whose listings never end).",
        ),
        Setting(
            "strict_decoding",
            th.BooleanType,
            default=False,
            title="Strict decoding",
            description="Fail on a response with bytes that are not valid in its charset. By default "
            "they become U+FFFD, the record is kept and a warning says how many bytes were replaced.",
        ),
        Setting(
            "page_overlap",
            th.IntegerType(minimum=0),
            default=1,
            title="Page overlap",
            description="Records each page re-reads from the end of the page before. If they are not "
            "where they were, records were inserted or deleted during the sync: the tap finds its place "
            "again instead of skipping records. 0 requests exactly the document's offsets and detects "
            "nothing.",
        ),
        Setting(
            "schema_contract",
            th.StringType(allowed_values=list(CONTRACTS)),
            default=DEFAULT_CONTRACT,
            title="Schema contract",
            description="What a sync does with a property the schema does not declare or a value "
            "of another type (dlt's names): evolve widens the schema and sends a new SCHEMA message "
            "before the record, which goes out whole; freeze fails the stream with one line; "
            "discard_value drops undeclared properties with a warning. A null the type does not allow is "
            "drift too; a key property arriving with another type stops the stream under evolve and freeze.",
        ),
        Setting(
            "schema_sample_records",
            th.IntegerType(minimum=0),
            title="Schema sample records",
            description="--discover reads up to this many records of each stream and merges the "
            "properties and types it saw into the declared schema, with a drift report on stderr. Off "
            "unless set, and when the API cannot be reached.",
        ),
        Setting(
            "schema_report",
            th.StringType,
            title="Schema report",
            description="With schema_sample_records: --discover writes the drift report "
            "(properties sent but not declared, declared but never seen, type conflicts, per stream) to "
            "this file, as JSON if its name ends in .json, else as Markdown.",
        ),
        Setting(
            "user_agent",
            th.StringType,
            title="User agent",
            description="User-Agent header sent with every request. Default: <tap name>/<version>.",
        ),
        Setting(
            "batch_auto",
            th.BooleanType,
            default=True,
            title="BATCH files into the bulk loaders",
            description="When meltano run pipes the tap straight into target-duckdb-bulk or "
            "target-postgres-bulk and batch_config is not set, records go as JSON Lines BATCH files in a "
            "private folder of the run (Meltano relays a line per file, not per record; the loader "
            "removes each file once committed). Every other target, and the tap on its own, gets RECORD "
            "lines. false: RECORD lines always.",
        ),
    )


def settings_schema(default_base_url: str, own: t.Mapping[str, t.Any] | None = None) -> dict[str, t.Any]:
    """A tap's ``config_jsonschema``: the kit's settings, then the tap's ``own`` (a schema as a tap
    declares it, ``th.PropertiesList(...).to_dict()`` say). Without the ``$schema`` the list adds: the
    plugin definitions (``--about``) have never carried one, and the tap validates its config as Draft 7."""
    schema = th.PropertiesList(*kit_settings(default_base_url)).to_dict()
    schema.pop("$schema", None)
    own = own or {}
    schema["properties"].update(own.get("properties", {}))
    schema["required"] = sorted({*schema["required"], *own.get("required", [])})
    return schema


def explain(error: ValidationError) -> str:
    """One line for a setting that fails its schema, naming it."""
    where = ".".join(str(p) for p in error.absolute_path) or "config"
    if error.validator == "required":
        return f"{where}: missing required setting {error.message.split(' ')[0]}"
    if error.validator == "minimum":
        return f"{where}: {error.instance!r} is too small (minimum {error.validator_value})"
    if error.validator == "exclusiveMinimum":
        return f"{where}: {error.instance!r} is too small (it must be more than {error.validator_value})"
    if error.validator == "minLength":
        return f"{where}: must not be empty"
    if error.validator == "type":
        value = str(error.instance) if isinstance(error.instance, Decimal) else repr(error.instance)
        kind = {"integer": "a whole number", "number": "a number"}.get(error.validator_value)
        return f"{where}: {value} is not {kind or f'of type {error.validator_value}'}"
    return f"{where}: {error.message}"


def as_number(value: t.Any, kind: str) -> t.Any:
    """A numeric setting as the tap uses it: numbers from strings (environment variables, Meltano's string
    kind) and from JSON's decimals; a value that is not a number is left for validation to name."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except ArithmeticError:
            return value
    if isinstance(value, Decimal | float):
        if not math.isfinite(value):
            return value
        if kind == "integer":
            return int(value) if value == int(value) else value
        return float(value)
    return value


def has_control_characters(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)
