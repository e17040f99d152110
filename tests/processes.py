"""The proxy as a real child process (`memory-proxy serve`), for tests that kill it or signal it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(port: int, upstream_url: str, data_dir: Path) -> list[str]:
    script = Path(sys.executable).with_name("memory-proxy")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "proxy"]
    return [
        *head,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--upstream",
        upstream_url,
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
    ]


class ProxyProcess:
    """One `memory-proxy serve` child; its output goes to `log_path` (shown when it fails)."""

    def __init__(
        self,
        upstream_url: str,
        data_dir: Path,
        log_path: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = serve_command(self.port, upstream_url, data_dir)
        child_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})}
        with log_path.open("ab") as log:
            log.write(f"\n--- {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=child_env
            )
        self.http = httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def wait_ready(self, timeout: float = 60.0) -> ProxyProcess:
        """Poll /healthz until it answers (a condition with a deadline, not a fixed sleep)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"proxy exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if self.http.get("/healthz", timeout=2).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                raise TimeoutError(f"proxy not ready in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.02)  # poll interval

    def health(self) -> dict:
        response = self.http.get("/healthz")
        assert response.status_code == 200, response.text
        return response.json()

    def flush(self, timeout: float = 60.0) -> None:
        response = self.http.post(
            "/memories/flush", params={"timeout": timeout}, timeout=timeout + 5
        )
        assert response.status_code == 200, f"{response.text}\n{self.log_tail()}"

    def memories(self, user_id: str) -> list[dict]:
        response = self.http.get("/memories", params={"user_id": user_id, "limit": 1000})
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.http.close()

    def terminate(self, timeout: float = 60.0) -> tuple[int, float]:
        """SIGTERM and wait; returns (exit code, seconds until it exited)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            self.http.close()
        return code, time.monotonic() - started

    def close(self) -> None:
        """Make sure the child is gone (test teardown)."""
        if self.process.poll() is None:
            self.kill()
        self.http.close()
