"""Updates instead of appends: supersede, forget, history, expiry, and the LLM extractor against a
scripted fake upstream (malformed answers and timeouts included)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proxy.memory.extract.llm import SYSTEM_PROMPT
from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory


def is_extraction(body: dict[str, Any]) -> bool:
    return body["messages"][0].get("content") == SYSTEM_PROMPT


def history(proxy: Proxy, memory_id: str) -> list[dict[str, Any]]:
    response = proxy.http.get(f"/memories/{memory_id}/history")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def injected(upstream: FakeUpstream) -> str:
    return next(
        r.memory_text() for r in reversed(upstream.chat_requests()) if not is_extraction(r.json)
    )


def test_moving_supersedes_where_the_user_lives_without_an_llm(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    proxy.tell("mia", "I live in Berlin.", **{"X-Memory-Time": "2024-01-10T10:00:00Z"})
    (berlin,) = proxy.memories("mia")
    proxy.tell("mia", "I moved to Lisbon last month.", **{"X-Memory-Time": "2024-06-01T10:00:00Z"})
    assert [m["text"] for m in proxy.memories("mia")] == ["I moved to Lisbon last month."]
    proxy.client("mia").chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Where do I live? Berlin or Lisbon?"}]
    )
    block = injected(upstream)
    assert "Lisbon" in block and "Berlin" not in block
    events = [e["event"] for e in history(proxy, berlin["id"])]
    assert events == ["ADD", "SUPERSEDE"]


def test_an_older_statement_imported_late_does_not_override_a_newer_one(proxy: Proxy) -> None:
    proxy.tell("ned2", "I live in Porto.", **{"X-Memory-Time": "2024-06-01T00:00:00Z"})
    proxy.tell("ned2", "I live in Madrid.", **{"X-Memory-Time": "2020-01-01T00:00:00Z"})
    assert [m["text"] for m in proxy.memories("ned2")] == ["I live in Porto."]


def test_likes_accumulate_and_are_not_superseded(proxy: Proxy) -> None:
    proxy.tell("ola", "I love sushi.")
    proxy.tell("ola", "I love hiking in the Alps.")
    assert len(proxy.memories("ola")) == 2


def test_forget_that_removes_the_memory(proxy: Proxy, upstream: FakeUpstream) -> None:
    proxy.tell("pat", "I have a cat named Luna.")
    (luna,) = proxy.memories("pat")
    proxy.tell("pat", "Please forget that I have a cat named Luna.")
    assert proxy.memories("pat") == []
    assert [e["event"] for e in history(proxy, luna["id"])] == ["ADD", "DELETE"]


def test_chinese_remember_and_forget_commands(proxy: Proxy) -> None:
    proxy.tell("qin", "记住：我对花生过敏。")
    assert [m["text"] for m in proxy.memories("qin")] == ["我对花生过敏。"]
    proxy.tell("qin", "忘掉我对花生过敏这件事。")
    assert proxy.memories("qin") == []


def test_dedup_update_is_recorded(proxy: Proxy) -> None:
    proxy.tell("ray", "I am vegetarian.")
    proxy.tell("ray", "I'm a vegetarian.")
    (memory,) = proxy.memories("ray")
    assert [e["event"] for e in history(proxy, memory["id"])] == ["ADD", "UPDATE"]


def test_an_expired_memory_is_neither_injected_nor_listed(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(write={"default_ttl_days": 1e-9})  # expires at once
    proxy.tell("sal", "I drive a red Vespa scooter.")
    raw = proxy.client("sal").chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "What scooter do I drive? A Vespa?"}]
    )
    assert raw.headers["x-memory-status"] == "none"
    assert "Vespa" not in upstream.last_chat().memory_text()
    assert proxy.memories("sal") == []


# --- LLM extraction ------------------------------------------------------------------------


@pytest.fixture
def llm_proxy(make_proxy: ProxyFactory, upstream: FakeUpstream) -> Proxy:
    return make_proxy(
        extraction={"model": "openai/gpt-fake", "api_key": "sk-extract", "timeout_s": 2}
    )


def script_extraction(upstream: FakeUpstream, *answers: str) -> list[dict[str, Any]]:
    """Answer extraction calls with `answers` in order (then '{"memory": []}'); record them."""
    pending = list(answers)
    seen: list[dict[str, Any]] = []

    def reply(body: dict[str, Any]) -> str:
        if not is_extraction(body):
            return "Sure, noted."
        seen.append(body)
        return pending.pop(0) if pending else '{"memory": []}'

    upstream.reply = reply
    return seen


def health(proxy: Proxy) -> dict[str, Any]:
    return proxy.http.get("/healthz").json()["memory"]


def shown_memories(body: dict[str, Any]) -> list[str]:
    """The numbered existing memories an extraction request showed the model."""
    listing = body["messages"][1]["content"].split("\n\nNEW TURN:")[0]
    return [line.split(": ", 1)[1] for line in listing.splitlines()[1:] if ": " in line]


def test_llm_add_update_delete_none_change_the_store(
    llm_proxy: Proxy, upstream: FakeUpstream
) -> None:
    calls = script_extraction(
        upstream,
        '{"memory": [{"event": "ADD", "text": "I live in Paris", "kind": "fact"},'
        ' {"event": "ADD", "text": "I like green tea", "kind": "preference"},'
        ' {"event": "ADD", "text": "I play chess on Sundays", "kind": "fact"}]}',
    )
    llm_proxy.tell("uli", "I live in Paris, like green tea and play chess on Sundays.")
    assert sorted(m["text"] for m in llm_proxy.memories("uli")) == [
        "I like green tea",
        "I live in Paris",
        "I play chess on Sundays",
    ]
    assert len(calls) == 1
    assert shown_memories(calls[0]) == []
    assert upstream.chat_requests()[-1].headers["authorization"] == "Bearer sk-extract"

    def reconcile(body: dict[str, Any]) -> str:
        if not is_extraction(body):
            return "Sure, noted."
        calls.append(body)
        shown = shown_memories(body)
        decisions = [
            {"event": "UPDATE", "id": shown.index("I live in Paris"), "text": "I live in Rome"},
            {"event": "NONE", "id": shown.index("I like green tea")},
            {"event": "DELETE", "id": shown.index("I play chess on Sundays")},
            {"event": "DELETE", "id": 9},  # never shown: must be ignored
        ]
        return "```json\n" + json.dumps({"memory": decisions}) + "\n```"

    upstream.reply = reconcile
    llm_proxy.tell("uli", "I moved from Paris to Rome, still love green tea, and quit chess.")
    assert len(calls) == 2
    assert sorted(m["text"] for m in llm_proxy.memories("uli")) == [
        "I like green tea",
        "I live in Rome",
    ]
    assert health(llm_proxy)["extraction"]["llm_parse_failures"] == 0


def test_malformed_llm_json_is_retried_then_falls_back_to_offline(
    llm_proxy: Proxy, upstream: FakeUpstream
) -> None:
    calls = script_extraction(upstream, "Sure! Here you go: {memory: [oops", "not json at all")
    llm_proxy.tell("vera", "I am allergic to shellfish.")
    assert len(calls) == 2  # one call, one retry
    assert [m["text"] for m in llm_proxy.memories("vera")] == ["I am allergic to shellfish."]
    stats = health(llm_proxy)["extraction"]
    assert stats["llm_parse_failures"] == 2 and stats["offline_fallbacks"] == 1


def test_an_llm_timeout_falls_back_to_offline_and_is_counted(
    llm_proxy: Proxy, upstream: FakeUpstream
) -> None:
    script_extraction(upstream)
    upstream.delay = lambda body: 5.0 if is_extraction(body) else 0.0
    llm_proxy.tell("wes", "I am training for a triathlon.")
    assert [m["text"] for m in llm_proxy.memories("wes")] == ["I am training for a triathlon."]
    stats = health(llm_proxy)["extraction"]
    assert stats["llm_call_failures"] == 1 and stats["offline_fallbacks"] == 1


def test_the_llm_never_sees_secrets_or_the_memory_block(
    llm_proxy: Proxy, upstream: FakeUpstream
) -> None:
    calls = script_extraction(
        upstream, '{"memory": [{"event": "ADD", "text": "I work night shifts"}]}'
    )
    llm_proxy.tell("xia", "I work night shifts.")
    secret = "ghp_" + "a1B2" * 9
    llm_proxy.tell("xia", f"My GitHub token is {secret}. I work night shifts still.")
    assert len(calls) == 2
    sent = json.dumps(calls[1])
    assert secret not in sent and "<memories>" not in sent
    assert "[REDACTED:github_token]" in sent


def test_remote_embeddings_through_litellm(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    """embedder=litellm sends memories and queries to the configured embeddings endpoint."""
    proxy = make_proxy(
        own_embedder=True,
        embedder="litellm",
        embedding_model="openai/text-embedding-fake",
        embedding_api_key="sk-e",
    )
    proxy.tell("yan", "I keep bees on my roof.")
    embedded = [r for r in upstream.requests if r.path == "/v1/embeddings"]
    assert embedded and embedded[-1].headers["authorization"] == "Bearer sk-e"
    assert any("I keep bees on my roof." in json.dumps(r.json) for r in embedded)
    assert [m["text"] for m in proxy.memories("yan")] == ["I keep bees on my roof."]
