"""The proxy's own calls through routes: LLM extraction and remote embeddings by a route's name,
the client's key paying for its extraction (held in memory only, never on disk), the defaults
that used to send an Ollama model to the upstream, and the warnings at start."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from testbed.fake_providers import FakeAnthropic, FakeOllama
from testbed.fake_upstream import FakeUpstream
from tests.conftest import ProxyFactory, wait_until

DECISION = json.dumps(
    {"memory": [{"event": "ADD", "text": "My sister Ana visits in May.", "kind": "plan"}]}
)
SAID = "My sister Ana is coming to stay with us in May."


def is_extraction(body: dict[str, Any]) -> bool:
    return "You maintain long-term memory" in json.dumps(body)


def extractor_reply(body: dict[str, Any]) -> str:
    return DECISION if is_extraction(body) else "Lovely."


def claude_route(anthropic: FakeAnthropic, **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-home",
        "litellm_model": "anthropic/claude-haiku-4-5",
        "api_base": anthropic.url,
        "api_key": "sk-ant-route",
        **extra,
    }


def say(proxy: Any, user: str, text: str, key: str = "sk-test-client") -> None:
    """A chat turn to the upstream's model (only its extraction is routed)."""
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        json={"model": "gpt-fake", "messages": [{"role": "user", "content": text}]},
        headers={"x-user-id": user, "authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text


def test_extraction_by_a_routes_name_uses_that_route(
    make_proxy: ProxyFactory, anthropic: FakeAnthropic, upstream: FakeUpstream
) -> None:
    anthropic.reply = extractor_reply
    proxy = make_proxy(routes=[claude_route(anthropic)], extraction={"model": "claude-home"})
    say(proxy, "ana", SAID)
    proxy.flush()
    assert [m["text"] for m in proxy.memories("ana")] == ["My sister Ana visits in May."]
    call = anthropic.last()
    assert call.headers["x-api-key"] == "sk-ant-route"  # the route's key, not the client's
    assert call.json["model"] == "claude-haiku-4-5"
    assert "You maintain long-term memory" in call.json["system"][0]["text"]
    assert not any(is_extraction(r.json) for r in upstream.chat_requests())


def test_an_ollama_extraction_model_goes_to_ollama_not_to_the_upstream(
    make_proxy: ProxyFactory,
    ollama: FakeOllama,
    upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`ollama/<model>` with no api_base used to be asked for at <upstream_url>/api/generate
    (a 404); now it gets litellm's own default, which OLLAMA_API_BASE sets, and the chat
    endpoint."""
    monkeypatch.setenv("OLLAMA_API_BASE", ollama.url)
    ollama.reply = extractor_reply
    proxy = make_proxy(extraction={"model": "ollama/qwen3"})
    say(proxy, "oli", SAID)
    proxy.flush()
    assert [m["text"] for m in proxy.memories("oli")] == ["My sister Ana visits in May."]
    assert [r.path for r in ollama.requests] == ["/api/chat"]
    assert ollama.last().json["messages"][0]["role"] == "system"
    assert {r.path for r in upstream.requests} == {"/v1/chat/completions"}


def test_the_clients_key_pays_for_its_extraction_and_never_reaches_disk(
    make_proxy: ProxyFactory, anthropic: FakeAnthropic
) -> None:
    anthropic.reply = extractor_reply
    proxy = make_proxy(
        routes=[claude_route(anthropic)],
        extraction={"model": "claude-home", "use_client_key": True},
    )
    anthropic.delay = 1.0  # the turn stays in the outbox while its extraction runs
    say(proxy, "kim", SAID, key="sk-client-kim-7f3a")
    wait_until(lambda: bool(anthropic.requests))
    outbox = b"".join(path.read_bytes() for path in proxy.settings.data_dir.glob("outbox.sqlite3*"))
    assert SAID.encode() in outbox  # the pending turn is there ...
    assert b"sk-client-kim-7f3a" not in outbox  # ... and its key is not
    proxy.flush()
    assert anthropic.last().headers["x-api-key"] == "sk-client-kim-7f3a"
    assert [m["text"] for m in proxy.memories("kim")] == ["My sister Ana visits in May."]
    stats = proxy.http.get("/healthz").json()["memory"]["extraction"]
    assert stats["without_client_key"] == 0


def test_without_use_client_key_extraction_uses_the_configured_key(
    make_proxy: ProxyFactory, anthropic: FakeAnthropic
) -> None:
    anthropic.reply = extractor_reply
    proxy = make_proxy(routes=[claude_route(anthropic)], extraction={"model": "claude-home"})
    say(proxy, "lee", SAID, key="sk-client-lee")
    proxy.flush()
    assert anthropic.last().headers["x-api-key"] == "sk-ant-route"


def test_embeddings_by_a_routes_name(make_proxy: ProxyFactory, ollama: FakeOllama) -> None:
    proxy = make_proxy(
        own_embedder=True,
        embedder="litellm",
        embedding_model="local-embed",
        routes=[
            {
                "model": "local-embed",
                "litellm_model": "ollama/nomic-embed-text",
                "api_base": ollama.url,
            }
        ],
    )
    probe = ollama.requests[0]  # the dimension probe at start
    assert probe.path == "/api/embed" and probe.json["model"] == "nomic-embed-text"
    proxy.tell("emb", "I play the cello in an orchestra.")
    found = proxy.http.post("/memories/search", json={"user_id": "emb", "query": "cello"}).json()
    assert [hit["text"] for hit in found["data"]] == ["I play the cello in an orchestra."]
    assert len(ollama.requests) > 1  # the memory and the query were embedded there


def test_a_missing_extraction_key_is_a_warning_at_start(
    make_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    caplog.set_level(logging.WARNING, logger="proxy")
    make_proxy(extraction={"model": "anthropic/claude-haiku-4-5"})
    wait_until(lambda: any("has no key" in r.getMessage() for r in caplog.records))
    warning = next(r.getMessage() for r in caplog.records if "has no key" in r.getMessage())
    assert "ANTHROPIC_API_KEY" in warning and "/healthz" in warning


def test_an_extraction_at_the_upstream_without_any_key_is_a_warning_at_start(
    make_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="proxy")
    make_proxy(extraction={"model": "gpt-4.1-nano"})
    messages = [r.getMessage() for r in caplog.records]
    assert any("carries no key" in m and "offline rules" in m for m in messages), messages
