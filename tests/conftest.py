"""Fixtures: a real fake upstream and a real proxy, each under uvicorn on 127.0.0.1."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as `memory-proxy serve` does

from proxy.app import create_app
from proxy.memory.embed.minilm import MiniLMEmbedder
from proxy.settings import Settings
from testbed.fake_providers import FakeAnthropic, FakeGemini, FakeOllama, FakeProvider
from testbed.fake_upstream import FakeUpstream
from testbed.servers import ServerThread


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(threads=1)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    with ServerThread(fake.app) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


F = TypeVar("F", bound=FakeProvider)


def _serve(fake: F) -> Iterator[F]:
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def anthropic() -> Iterator[FakeAnthropic]:
    """A fake Anthropic Messages API (tests/fake_providers.py); a route's api_base: its url."""
    yield from _serve(FakeAnthropic())


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    """A fake Gemini API; a route's api_base: f"{url}/v1beta"."""
    yield from _serve(FakeGemini())


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    """A fake Ollama server; a route's api_base: its url."""
    yield from _serve(FakeOllama())


class Proxy:
    def __init__(self, server: ServerThread, settings: Settings) -> None:
        self.server = server
        self.settings = settings
        self.url = server.url
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self._clients: list[Any] = []  # SDK clients, closed with the proxy

    def client(self, user: str | None = None, **headers: str) -> openai.OpenAI:
        default_headers = {**({"X-User-Id": user} if user else {}), **headers}
        client = openai.OpenAI(
            base_url=f"{self.url}/v1",
            api_key="sk-test-client",
            max_retries=0,
            default_headers=default_headers,
        )
        self._clients.append(client)  # closed with the proxy: no sockets left to the GC
        return client

    def anthropic(self, user: str | None = None, **headers: str) -> Any:
        """An official anthropic SDK client (its base URL has no /v1)."""
        import anthropic

        client = anthropic.Anthropic(
            base_url=self.url,
            api_key="sk-ant-test-client",
            max_retries=0,
            default_headers={**({"X-User-Id": user} if user else {}), **headers},
        )
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.http.close()

    def flush(self) -> None:
        response = self.http.post("/memories/flush", params={"timeout": 30})
        assert response.status_code == 200, response.text

    def memories(self, user_id: str, **scope: str) -> list[dict[str, Any]]:
        response = self.http.get("/memories", params={"user_id": user_id, **scope})
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def tell(self, user: str, text: str, **headers: str) -> None:
        """Say something in a conversation and wait until it is stored."""
        self.client(user, **headers).chat.completions.create(
            model="gpt-fake", messages=[{"role": "user", "content": text}]
        )
        self.flush()


ProxyFactory = Callable[..., Proxy]


@pytest.fixture
def make_proxy(
    tmp_path: Path, embedder: MiniLMEmbedder, upstream: FakeUpstream
) -> Iterator[ProxyFactory]:
    started: list[Proxy] = []

    def factory(*, own_embedder: bool = False, **overrides: Any) -> Proxy:
        settings_args: dict[str, Any] = {
            "upstream_url": f"{upstream.url}/v1",  # type: ignore[attr-defined]
            "anthropic_upstream_url": upstream.url,  # type: ignore[attr-defined]
            "data_dir": tmp_path / f"data{len(started)}",
            **overrides,
        }
        settings = Settings(**settings_args)
        app = create_app(settings, embedder=None if own_embedder else embedder)
        server = ServerThread(app).start()
        proxy = Proxy(server, settings)
        started.append(proxy)
        return proxy

    yield factory
    for proxy in started:
        proxy.close()
        proxy.server.stop()


@pytest.fixture
def proxy(make_proxy: ProxyFactory) -> Proxy:
    return make_proxy()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


# --- figures the durability, isolation and fuzz tests measured, printed after the run ---------

FIGURES = pytest.StashKey[dict[str, dict[str, Any]]]()


@pytest.fixture(scope="session")
def figures(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """Tests record what they measured here (trials, writes lost, leaks, fuzz cases, 5xx)."""
    return request.config.stash.setdefault(FIGURES, {})


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    measured = config.stash.get(FIGURES, {})
    if measured:
        terminalreporter.section("durability, isolation and fuzz figures")
        for name, values in measured.items():
            line = ", ".join(f"{key}={value}" for key, value in values.items())
            terminalreporter.write_line(f"{name}: {line}")
