"""A memory-proxy started inside the eval: uvicorn in a thread, on an ephemeral loopback port.

Its event loop is its own, so the eval's calls reach it over real HTTP as a client's would.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

from proxy.core.errors import EvalError
from proxy.memory.embed.base import Embedder
from proxy.settings import Settings

__all__ = ["LocalProxy"]


class LocalProxy:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        import uvicorn

        from proxy.app import create_app

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(
            create_app(settings, embedder=embedder),
            log_level="warning",
            lifespan="on",
            proxy_headers=False,
            timeout_graceful_shutdown=int(settings.write.drain_timeout_s) + 5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="eval-proxy", daemon=True)

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self, timeout: float = 120.0) -> LocalProxy:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:  # uvicorn sets it once it serves
            if not self._thread.is_alive():
                raise EvalError("the in-process proxy failed to start (see the log above)")
            if time.monotonic() > deadline:
                raise EvalError(f"the in-process proxy did not start within {timeout:.0f} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Graceful: pending memory writes drain before the store closes. Idempotent."""
        if not self._thread.is_alive():
            self._sock.close()
            return
        self._server.should_exit = True
        self._thread.join(timeout=60)
        self._sock.close()

    def __enter__(self) -> LocalProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
