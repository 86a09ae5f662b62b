"""Runner: ``python -m dlt_sources <crm|projects|leads> [options]`` (or the ``dlt-sources`` script), from
any directory: dlt reads ``.dlt/config.toml`` and ``.dlt/secrets.toml`` in the working directory, if there.

Loads one API into DuckDB (``output/dlt_<api>.duckdb``) or PostgreSQL, prints progress, the rows per
table and the ``dlt pipeline --pipelines-dir ... info`` command that finds the pipeline, and on failure
prints one line naming the cause and exits non-zero. The loaded records' files are deleted from the
pipelines directory after the load unless ``--keep-load-packages``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from requests import HTTPError, Response
from requests.exceptions import ConnectionError, SSLError, Timeout

import keyguard
from dlt_sources import MODULES, RETRY_STATUSES, SOURCES
from dlt_sources._errors import DeadlineExceeded, EnvelopeError, SourceError
from dlt_sources._http import safe_url
from dlt_sources.pipeline import (
    default_duckdb_file,
    hide_null_column_notes,
    info_command,
    load,
    make_pipeline,
)

# The runner's flags that are the source function's arguments of the same name.
SOURCE_FLAGS = ("api_key", "base_url", "backoff_factor", "max_attempts", "request_timeout", "max_pages")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        # `python -m dlt_sources`, or the console script's own name
        prog="python -m dlt_sources" if Path(sys.argv[0]).name == "__main__.py" else None,
        description="Load one API with its dlt rest_api source (merge on id).",
    )
    parser.add_argument("api", choices=sorted(SOURCES), help="which API to load")
    parser.add_argument("--destination", choices=("duckdb", "postgres"), default="duckdb")
    parser.add_argument(
        "--duckdb-file",
        type=Path,
        help="DuckDB database file (default: output/dlt_<api>.duckdb)",
    )
    parser.add_argument(
        "--base-url",
        help="API root, e.g. a sandbox's URL (default: sources.<api>.base_url, else the document's URL)",
    )
    parser.add_argument("--dataset", help="dataset (schema) name (default: the API name)")
    parser.add_argument("--pipeline-name", help="dlt pipeline name (default: dlt_<api>)")
    parser.add_argument(
        "--pipelines-dir",
        type=Path,
        help="where dlt keeps pipeline state and load packages (default: output/dlt_pipelines)",
    )
    parser.add_argument(
        "--api-key",
        help="API key; prefer SOURCES__<API>__API_KEY or .dlt/secrets.toml (a flag shows in `ps`)",
    )
    parser.add_argument(
        "--backoff-factor",
        type=float,
        help="exponential backoff factor between retries in seconds (default 2, the documents')",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        help="attempts per request, first try included (default 4: 3 retries, the documents')",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        help="seconds for a whole response, connect to last byte; longer is retried as a timeout "
        "(default 60)",
    )
    parser.add_argument(
        "--max-pages",
        type=int,
        help="stop a paginated resource with an error after this many pages without reaching its end "
        "(default: no ceiling)",
    )
    parser.add_argument(
        "--keep-load-packages",
        action="store_true",
        help="keep the files of each completed load package (the loaded records) in the pipelines dir; "
        "by default they are deleted once loaded (schema and state stay, for `dlt pipeline ... info`)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only the final table and the `dlt pipeline` line"
    )
    return parser.parse_args(argv)


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (cause, context, dlt's ``.exception``)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend([getattr(current, "exception", None), current.__cause__, current.__context__])


def resource_for_url(api: str, url: str) -> str | None:
    path = urlparse(url).path.rstrip("/")
    for row in MODULES[api].RESOURCES:
        if path.endswith(row.path.rstrip("/")):
            return str(row.name)
    return None


def describe_error(exc: BaseException, api: str) -> str:
    """One line saying what went wrong, without a traceback."""
    chain = list(exception_chain(exc))
    # dlt names the resource it was extracting (resource_name in a pipeline, pipe_name when a
    # resource is iterated directly); else the failing URL's path does.
    names = (getattr(e, attr, None) for e in chain for attr in ("resource_name", "pipe_name"))
    resource = next((name for name in names if isinstance(name, str) and name), None)
    if resource is None:
        responses = [e.response for e in chain if isinstance(e, HTTPError) and e.response is not None]
        if responses:
            resource = resource_for_url(api, responses[0].url)
    where = f"resource {resource!r}: " if resource else ""
    message: str | None = None
    for e in chain:
        if isinstance(e, DeadlineExceeded):
            message = f"{e} after all retries"
            break
        if isinstance(e, SourceError):
            message = str(e)
            if isinstance(e, EnvelopeError):
                where = ""  # the message names the resource itself
            break
        if isinstance(e, ConfigFieldMissingException):
            message = (
                f"no API key for {api}: set SOURCES__{api.upper()}__API_KEY, or api_key under "
                f"[sources.{api}] in .dlt/secrets.toml (see .dlt/secrets.toml.example)"
            )
            break
        if isinstance(e, HTTPError) and e.response is not None:
            message = _status_line(e.response, api)
            break
        if isinstance(e, ConnectionError | Timeout):
            message = _unreachable(e)
            break
    if message is None:
        innermost = chain[-1]
        message = f"{type(innermost).__name__}: {innermost}"
    return keyguard.redactor()(" ".join(f"error: {where}{message}".split()))


def _unreachable(e: ConnectionError | Timeout) -> str:
    url = safe_url(e.request.url) if e.request is not None and e.request.url else "the API"
    tls = re.search(r"\[SSL: (\w+)\] ([^(']+)", str(e))
    if isinstance(e, SSLError) and tls:
        hint = "; trust its CA with REQUESTS_CA_BUNDLE" if tls.group(1) == "CERTIFICATE_VERIFY_FAILED" else ""
        return f"cannot reach {url}: TLS failed ({tls.group(1)}: {tls.group(2).strip()}){hint}"
    reason = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(e))
    what = "timed out" if isinstance(e, Timeout) else "connection failed"
    return f"cannot reach {url}: {what} ({reason.group(1) if reason else type(e).__name__})"


def _status_line(response: Response, api: str) -> str:
    status = response.status_code
    text = f"HTTP {status} from {safe_url(response.url)}"
    if status in RETRY_STATUSES:
        return f"{text} after all retries"
    text = f"{text} (not retried): {keyguard.redactor().excerpt(response.text)}"
    if status in (401, 403):
        text += f". Check the API key (SOURCES__{api.upper()}__API_KEY): the API refused it."
    return text


def print_rows(loaded: dict[str, int], counts: dict[str, int]) -> None:
    width = max([len("table"), *map(len, counts)])
    print(f"{'table':<{width}}  {'this run':>9}  {'in dataset':>10}")
    for table, count in counts.items():
        print(f"{table:<{width}}  {loaded.get(table, 0):>9}  {count:>10}")


def run(args: argparse.Namespace) -> None:
    # the flags given (an empty --api-key or --base-url counts as not given); the rest from dlt's config
    source_kwargs: dict[str, Any] = {
        name: value for name in SOURCE_FLAGS if (value := getattr(args, name)) is not None and value != ""
    }
    pipeline = make_pipeline(
        args.api,
        destination=args.destination,
        duckdb_file=args.duckdb_file,
        dataset=args.dataset,
        pipeline_name=args.pipeline_name,
        pipelines_dir=args.pipelines_dir,
    )
    follow_dlt_log_level()
    if not args.quiet:
        where = args.duckdb_file or default_duckdb_file(args.api)
        print(f"dlt {args.api} -> {where if args.destination == 'duckdb' else 'postgres'}")
    result = load(
        args.api,
        pipeline,
        progress=None if args.quiet else print,
        keep_load_packages=args.keep_load_packages,
        **source_kwargs,
    )
    print_rows(result.rows_loaded, result.table_counts())
    print(f"inspect: {info_command(pipeline)}")


def follow_dlt_log_level() -> None:
    """``RUNTIME__LOG_LEVEL`` (dlt's setting) below WARNING shows the other libraries' lines too
    (urllib3's request lines at DEBUG); the key is masked on every handler there is now, dlt's own
    (made with the pipeline) included."""
    level = logging.getLevelName(str(dlt.current.run_context().runtime_config.log_level).upper())
    if isinstance(level, int) and level < logging.WARNING:
        logging.getLogger().setLevel(level)
    keyguard.install()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # No phoning home from a loader pointed at local sandboxes, unless the user asked for it.
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    logging.basicConfig(format="  %(name)s: %(message)s", level=logging.WARNING, stream=sys.stderr)
    keyguard.install(args.api_key)  # masks the key, in every form, in whatever this process prints
    if args.quiet:
        logging.getLogger("dlt_sources").setLevel(logging.ERROR)
    hide_null_column_notes()
    try:
        run(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(describe_error(exc, args.api), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
