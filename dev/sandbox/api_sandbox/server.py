"""A sandbox you can start and stop: the data model (model.py) served by the HTTP layer (handler.py)."""

from __future__ import annotations

import ssl
import threading
from types import TracebackType
from typing import Unpack

from .handler import SandboxServer
from .model import ModelOptions, SandboxModel


class Sandbox(SandboxModel):
    """A running (or startable) fake of one API. Use :func:`run_sandbox` to get a started one.

    Takes the keyword options of :class:`~api_sandbox.model.SandboxModel` plus ``host``, ``port`` and
    ``tls=(certfile, keyfile)`` (PEM files) to serve https.
    """

    def __init__(
        self,
        api: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: tuple[str, str] | None = None,
        **options: Unpack[ModelOptions],
    ) -> None:
        super().__init__(api, **options)
        self.host = host
        self.port = port
        self.tls = tls
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        context = None
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
        server = SandboxServer((self.host, self.port), self, context)
        self._server = server
        host, port = str(server.server_address[0]), int(server.server_address[1])
        self.port = port
        shown = f"[{host}]" if ":" in str(host) else str(host)
        self.root_url = f"{server.scheme}://{shown}:{self.port}"
        self.base_url = self.root_url + self.api_def.base_path
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"api-sandbox-{self.api}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    close = stop

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SandboxOptions(ModelOptions, total=False):
    """The keyword options of :class:`Sandbox` and :func:`run_sandbox`."""

    host: str
    port: int
    tls: tuple[str, str] | None


def run_sandbox(api: str, **options: Unpack[SandboxOptions]) -> Sandbox:
    """Start a sandbox serving ``api`` in a background thread; use as a context manager to stop it."""
    return Sandbox(api, **options).start()
