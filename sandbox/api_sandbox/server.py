"""A sandbox you can start and stop: the data model (model.py) served by the HTTP layer (handler.py)."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Unpack

from .handler import SandboxServer
from .model import ModelOptions, SandboxModel


class Sandbox(SandboxModel):
    """A running (or startable) fake of one API. Use :func:`run_sandbox` to get a started one.

    Takes the keyword options of :class:`~api_sandbox.model.SandboxModel` plus ``host`` and ``port``.
    """

    def __init__(
        self, api: str, *, host: str = "127.0.0.1", port: int = 0, **options: Unpack[ModelOptions]
    ) -> None:
        super().__init__(api, **options)
        self.host = host
        self.port = port
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        server = SandboxServer((self.host, self.port), self)
        self._server = server
        host, port = str(server.server_address[0]), int(server.server_address[1])
        self.port = port
        shown = f"[{host}]" if ":" in str(host) else str(host)
        self.root_url = f"http://{shown}:{self.port}"
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


def run_sandbox(api: str, **options: Unpack[SandboxOptions]) -> Sandbox:
    """Start a sandbox serving ``api`` in a background thread; use as a context manager to stop it."""
    return Sandbox(api, **options).start()
