"""Child processes serving HTTP on 127.0.0.1: the proxy (`memory-proxy serve`), for tests that
kill or signal it and for benchmarks whose load generator must not share its GIL; and the fake
upstream in a process of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

import httpx

__all__ = ["Child", "ProxyProcess", "free_port", "serve_command", "upstream_process"]

ROOT = Path(__file__).resolve().parents[1]  # the checkout: `testbed` imports from here


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(
    port: int, upstream_url: str, data_dir: Path, log_level: str = "warning"
) -> list[str]:
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
        log_level,
    ]


class Child:
    """One child process listening on `port`, ready once `ready_path` answers 200; its output
    goes to `log_path` (shown when it fails)."""

    def __init__(
        self,
        name: str,
        command: list[str],
        port: int,
        ready_path: str,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.ready_path = ready_path
        self.command = command
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.ready_s = 0.0  # seconds from start to the first 200 of `wait_ready`
        with log_path.open("ab") as log:
            log.write(f"\n--- {' '.join(command)}\n".encode())
            log.flush()
            self.started_at = time.perf_counter()
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def wait_ready(self, timeout: float = 60.0) -> Self:
        """Poll until the child answers 200 (a condition with a deadline, not a fixed sleep)."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2, trust_env=False) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if client.get(self.ready_path).status_code == 200:
                        self.ready_s = time.perf_counter() - self.started_at
                        return self
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.name} not ready in {timeout} s:\n{self.log_tail()}")
                time.sleep(0.02)  # poll interval

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, timeout: float = 60.0) -> tuple[int, float]:
        """SIGTERM and wait; returns (exit code, seconds until it exited)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then kill -9 if it has not exited within `timeout`; nothing if it is gone."""
        if self.process.poll() is None:
            try:
                self.terminate(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


class ProxyProcess(Child):
    """One `memory-proxy serve` child, with a client for its health and memory routes."""

    def __init__(
        self,
        upstream_url: str,
        data_dir: Path,
        log_path: Path,
        env: dict[str, str] | None = None,
        log_level: str = "warning",
    ) -> None:
        port = free_port()
        command = serve_command(port, upstream_url, data_dir, log_level)
        env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})}
        super().__init__("proxy", command, port, "/healthz", log_path, env)
        self.http = httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    def health(self) -> dict[str, Any]:
        response = self.http.get("/healthz")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def flush(self, timeout: float = 60.0) -> None:
        response = self.http.post(
            "/memories/flush", params={"timeout": timeout}, timeout=timeout + 5
        )
        assert response.status_code == 200, f"{response.text}\n{self.log_tail()}"

    def memories(self, user_id: str) -> list[dict[str, Any]]:
        response = self.http.get("/memories", params={"user_id": user_id, "limit": 1000})
        assert response.status_code == 200, response.text
        return list(response.json()["data"])

    def kill(self) -> None:
        super().kill()
        self.http.close()

    def terminate(self, timeout: float = 60.0) -> tuple[int, float]:
        try:
            return super().terminate(timeout)
        finally:
            self.http.close()

    def close(self) -> None:
        """Make sure the child is gone (test teardown)."""
        if self.process.poll() is None:
            self.kill()
        self.http.close()


def upstream_process(log_path: Path, answer: str, chunks: int = 20) -> Child:
    """The fake upstream (`testbed.fake_upstream`) in its own process, answering `answer`."""
    port = free_port()
    command = [sys.executable, "-m", "testbed.fake_upstream", "--port", str(port)]
    command += ["--answer", answer, "--chunks", str(chunks)]
    return Child("fake upstream", command, port, "/v1/models", log_path, cwd=ROOT)
