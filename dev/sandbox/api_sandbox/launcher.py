"""One way to run ``api-sandbox serve`` in a child process (its own GIL) and to talk to it.

The protocol of ``api-sandbox serve``: the first line it prints (flushed) on stdout is the base URL
(``http://127.0.0.1:PORT``, ``.../v2`` for leads; ``https`` with TLS); it serves until SIGINT or SIGTERM
and then exits 0. :func:`read_base_url` reads that line, :class:`SandboxProcess` starts and stops the child,
and :class:`ControlClient` speaks to the control endpoints of any running sandbox (``/_sandbox/...``).

    with SandboxProcess("projects", records=100_000, latency_ms=50) as sb:
        sb.base_url             # for the tap
        sb.truth("tasks")       # same inspection methods as an in-process Sandbox, over HTTP
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any, Unpack
from urllib.parse import quote, urlsplit

from .drift import as_drift
from .faults import Fault, as_fault
from .server import SandboxOptions


class SandboxStartError(RuntimeError):
    """The child did not print its base URL (it exited, or took longer than the start timeout)."""


_FLAGS = {
    "records": "--records",
    "seed": "--seed",
    "api_key": "--api-key",
    "latency_ms": "--latency-ms",
    "churn": "--churn",
    "host": "--host",
    "port": "--port",
}


def serve_argv(api: str, **options: Unpack[SandboxOptions]) -> list[str]:
    """``api-sandbox serve`` arguments (after the program) for the keyword options of ``run_sandbox``."""
    argv = ["serve", "--api", api]
    opts: dict[str, Any] = dict(options)
    for name, flag in _FLAGS.items():
        if name in opts:
            argv += [flag, str(opts.pop(name))]
    max_page_size = opts.pop("max_page_size", None)
    if max_page_size is not None:
        if not isinstance(max_page_size, int):
            raise ValueError("max_page_size per resource (a dict) has no command-line form")
        argv += ["--max-page-size", str(max_page_size)]
    for fault in opts.pop("faults", ()):
        argv += ["--fault", as_fault(fault).to_spec()]
    for drift in opts.pop("drift", ()):
        argv += ["--drift", as_drift(drift).to_spec()]
    repeat_ids = opts.pop("repeat_ids", None)
    if repeat_ids is not None:
        argv += ["--repeat-ids", "{}:{}".format(*repeat_ids)]
    tls = opts.pop("tls", None)
    if tls is not None:
        argv += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    if opts:
        raise ValueError(f"unknown sandbox options: {', '.join(sorted(opts))}")
    return argv


def read_base_url(stream: IO[bytes], timeout: float, proc: subprocess.Popen[bytes] | None = None) -> str:
    """The first line of a starting ``api-sandbox serve`` (its base URL); :class:`SandboxStartError`
    if the stream ends, the process exits or ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxStartError(f"no base URL within {timeout:g} s")
            if sel.select(min(left, 0.5)):
                chunk = os.read(stream.fileno(), 4096)
                if not chunk:
                    break
                data += chunk
            elif proc is not None and proc.poll() is not None:
                break
    line = data.split(b"\n", 1)[0].decode(errors="replace").strip()
    if not line.startswith(("http://", "https://")):
        raise SandboxStartError(f"expected the base URL as the first line, got {line!r}")
    return line


class ControlClient:
    """The control endpoints of a running sandbox at ``root_url``: the inspection methods of
    :class:`~api_sandbox.server.Sandbox` (truth, stable_ids, stats, request_log, faults, reset, churn)."""

    def __init__(self, root_url: str, timeout: float = 60.0) -> None:
        self.root_url = root_url.rstrip("/")
        self.timeout = timeout
        self._ssl: ssl.SSLContext | None = None
        if self.root_url.startswith("https://"):
            # our own sandbox on loopback: its certificate may come from a throwaway CA
            self._ssl = ssl.create_default_context()
            self._ssl.check_hostname = False
            self._ssl.verify_mode = ssl.CERT_NONE

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.root_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=self.timeout, context=self._ssl) as response:
            return json.loads(response.read())

    def truth(self, name: str | None = None) -> Any:
        return self._call("GET", "/_sandbox/truth" + (f"?resource={quote(name)}" if name else ""))

    def stable_ids(self, name: str | None = None) -> Any:
        return self._call("GET", "/_sandbox/truth?stable=1" + (f"&resource={quote(name)}" if name else ""))

    def stats(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self._call("GET", "/_sandbox/stats")
        return result

    def requests_made(self, path: str) -> int:
        """Requests to ``path`` since start or reset."""
        return int(self.stats().get(path, {}).get("requests", 0))

    def request_log(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/_sandbox/requests")
        return result

    def add_fault(self, fault: Fault | str | Mapping[str, Any]) -> None:
        body = dict(fault) if isinstance(fault, Mapping) else {"spec": as_fault(fault).to_spec()}
        self._call("POST", "/_sandbox/faults", body)

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sandbox/faults")

    def reset(self) -> None:
        self._call("POST", "/_sandbox/reset")

    def churn_step(self, name: str) -> tuple[list[Any], list[Any]]:
        result = self._call("POST", f"/_sandbox/churn?resource={quote(name)}")
        return result["deleted"], result["inserted"]


class SandboxProcess(ControlClient):
    """``api-sandbox serve`` as a child process, started on construction, stopped by :meth:`stop` or the
    ``with`` block. Takes the keyword options of ``run_sandbox`` (``max_page_size`` as an int only) and:

    ``python``: the interpreter to run ``-m api_sandbox.cli`` with (default: this one);
    ``env``: the child's environment (default: this process's); ``start_timeout``: seconds to wait for the
    base URL. A child that does not start raises :class:`SandboxStartError` with its stderr; to fall back
    from a fixed port that is taken, catch it and start again with ``port=0``.
    """

    def __init__(
        self,
        api: str,
        *,
        python: str | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
        **options: Unpack[SandboxOptions],
    ) -> None:
        self.api = api
        self.argv = [python or sys.executable, "-m", "api_sandbox.cli", *serve_argv(api, **options)]
        # stderr to a file, not a pipe: a long-lived child never blocks on it
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open for the life of the child
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
        )
        assert self.proc.stdout is not None
        try:
            self.base_url = read_base_url(self.proc.stdout, start_timeout, self.proc)
        except SandboxStartError as exc:
            self.stop()
            err = self.stderr
            self._stderr.close()
            raise SandboxStartError(f"api-sandbox serve --api {api} did not start ({exc}): {err}") from None
        parts = urlsplit(self.base_url)
        super().__init__(f"{parts.scheme}://{parts.netloc}")
        self.pid = self.proc.pid

    @property
    def stderr(self) -> str:
        """What the child wrote to stderr so far."""
        if self._stderr.closed:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._stderr.close()
