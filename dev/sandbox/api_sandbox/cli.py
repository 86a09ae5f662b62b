"""Command line: ``api-sandbox serve --api crm|projects|leads ...`` and ``api-sandbox openapi --api ...``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from .apis import APIS, DEFAULT_API_KEY, DEFAULT_RECORDS
from .drift import __doc__ as DRIFT_DOC
from .drift import parse_drift_spec
from .faults import __doc__ as FAULTS_DOC
from .faults import parse_fault_spec
from .server import Sandbox


def _fault_arg(value: str) -> Any:
    try:
        return parse_fault_spec(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _drift_arg(value: str) -> Any:
    try:
        return parse_drift_spec(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _repeat_ids_arg(value: str) -> tuple[int, int]:
    every, sep, back = value.partition(":")
    try:
        if not sep:
            raise ValueError
        pair = (int(every), int(back))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected EVERY:BACK (e.g. 9:6), got {value!r}") from None
    if not 1 <= pair[1] < pair[0]:
        raise argparse.ArgumentTypeError(f"--repeat-ids EVERY:BACK needs 1 <= BACK < EVERY, got {value!r}")
    return pair


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", required=True, choices=sorted(APIS), help="which API document to serve")
    p.add_argument(
        "--records",
        type=int,
        default=DEFAULT_RECORDS,
        help="records per paginated resource (default %(default)s; up to 1,000,000 is fine)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="data seed: same seed, byte-identical bodies (default 0)"
    )
    p.add_argument(
        "--max-page-size",
        type=int,
        default=None,
        help="clamp page sizes above N silently, for every paginated resource (default 1000)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="api-sandbox", description="Local fakes of the CRM, projects and leads APIs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="serve one API until SIGINT/SIGTERM",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Serve one API. The first line on stdout is the base URL to give a tap "
            "(http://HOST:PORT for crm and projects, http://HOST:PORT/v2 for leads; https with --tls-cert).\n"
            "Every API path is also served under /_moved (the target of same-origin redirects).\n\n"
            "Control endpoints (no auth): GET /_sandbox/stats, /_sandbox/requests,\n"
            "/_sandbox/truth[?stable=1], /_sandbox/faults, /_sandbox/resources;\n"
            "POST /_sandbox/faults (JSON fault), DELETE /_sandbox/faults,\n"
            "POST /_sandbox/reset, POST /_sandbox/churn?resource=NAME. OpenAPI: GET {base_url}/openapi.json."
        ),
        epilog="Fault SPEC syntax (--fault, repeatable):\n"
        + (FAULTS_DOC or "").split("\n", 2)[2]
        + "\nDrift SPEC syntax (--drift, repeatable):\n"
        + (DRIFT_DOC or "").split("\n", 2)[2],
    )
    _add_common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    serve.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    serve.add_argument("--api-key", default=DEFAULT_API_KEY, help="the accepted key (default %(default)s)")
    serve.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="delay every API response by L ms (concurrent requests overlap)",
    )
    serve.add_argument(
        "--fault",
        dest="faults",
        action="append",
        type=_fault_arg,
        default=[],
        metavar="SPEC",
        help="inject a fault, e.g. 503,path=/v1/tasks,count=3 (see below)",
    )
    serve.add_argument(
        "--churn",
        type=float,
        default=0.0,
        metavar="RATE",
        help="after each page request, with this probability delete and insert a few records "
        "(seeded by --seed)",
    )
    serve.add_argument(
        "--repeat-ids",
        type=_repeat_ids_arg,
        default=None,
        metavar="EVERY:BACK",
        help="in each paginated resource the record at position p (1-based) with p %% EVERY == 0 carries "
        "the id of the record BACK positions before it (its other fields its own), e.g. 9:6",
    )
    serve.add_argument(
        "--drift",
        action="append",
        type=_drift_arg,
        default=[],
        metavar="SPEC",
        help="serve records the documents do not describe, e.g. add,name=region,kind=string (see below)",
    )
    serve.add_argument("--tls-cert", metavar="FILE", help="serve https with this PEM certificate (chain)")
    serve.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")
    oa = sub.add_parser("openapi", help="print the OpenAPI document of an API and exit")
    _add_common(oa)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "openapi":
        sb = Sandbox(args.api, records=args.records, seed=args.seed, max_page_size=args.max_page_size)
        json.dump(sb.openapi(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    try:
        sb = _serve(args, tls)
    except (OSError, ValueError) as exc:  # a taken port, an unreadable certificate: one line, no traceback
        print(f"api-sandbox: cannot serve {args.api} on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(sb.base_url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sb.stop()
    return 0


def _serve(args: argparse.Namespace, tls: tuple[str, str] | None) -> Sandbox:
    return Sandbox(
        args.api,
        records=args.records,
        seed=args.seed,
        api_key=args.api_key,
        latency_ms=args.latency_ms,
        max_page_size=args.max_page_size,
        faults=args.faults,
        churn=args.churn,
        repeat_ids=args.repeat_ids,
        drift=args.drift,
        host=args.host,
        port=args.port,
        tls=tls,
    ).start()


if __name__ == "__main__":
    raise SystemExit(main())
