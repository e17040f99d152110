"""Memory that knows the user (issue 11), end to end through the real proxy and the official SDK:
what was said in one conversation reaches the model in a later, fresh one, by tier."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from proxy.core.tokens import estimate_tokens
from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory

# (said earlier, asked later, what must reach the model, tier it is stored in)
ROWS = [
    (
        "Remember that I like TypeScript and prefer short answers.",
        "How do I read a file line by line?",
        "TypeScript",
        "profile",
    ),
    (
        "Please always answer me in Spanish from now on.",
        "What is the capital of Australia?",
        "Spanish",
        "profile",
    ),
    ("I'm allergic to peanuts.", "Plan my meals for the week.", "peanuts", "profile"),
    (
        "For the record, I'm vegan.",
        "Can you suggest a dinner recipe for tonight?",
        "vegan",
        "profile",
    ),
    ("I live in Lisbon.", "What's the weather where I live?", "Lisbon", "profile"),
    (
        "My order 5521 arrived with a cracked screen and I asked for a replacement.",
        "Hi again, any news on my case?",
        "5521",
        "episodic",
    ),
    ("记住我喜欢用 TypeScript，回答简短一点。", "怎么逐行读取一个文件？", "TypeScript", "profile"),
    ("以后请一直用西班牙语回答我。", "澳大利亚的首都是哪里？", "西班牙语", "profile"),
    ("我对花生过敏。", "帮我安排一下这周的饮食。", "花生", "profile"),
    ("顺便说一下，我吃素。", "今晚推荐一个晚餐食谱吧。", "吃素", "profile"),
    ("我住在里斯本。", "我住的地方天气怎么样？", "里斯本", "profile"),
    (
        "我的订单5521收到时屏幕碎了，我申请了换货。",
        "你好，我的事情有进展吗？",
        "5521",
        "episodic",
    ),
]
SESSION_ROWS = [
    (
        "We settled on flying to Porto on May 3 and staying four nights.",
        "OK, what did we decide about the dates?",
        "Porto",
    ),
    ("我们定了5月3日飞波尔图，住四晚。", "好的，我们定的日期是什么来着？", "波尔图"),
]


def ask(proxy: Proxy, user: str, text: str, **headers: str):
    return proxy.client(user, **headers).chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": text}]
    )


@pytest.mark.parametrize(("said", "asked", "expected", "tier"), ROWS)
def test_what_was_said_reaches_a_later_fresh_conversation(
    proxy: Proxy, upstream: FakeUpstream, said: str, asked: str, expected: str, tier: str
) -> None:
    proxy.tell("u", said)
    (stored,) = proxy.memories("u")
    assert stored["tier"] == tier
    raw = ask(proxy, "u", asked)
    assert raw.headers["x-memory-status"] == "injected"
    seen = upstream.last_chat()
    assert expected in seen.memory_text()
    if tier == "profile":  # the standing profile sits in the system message, marked as such
        assert expected in seen.system_text() and "Standing profile:" in seen.system_text()
    assert raw.parse().choices[0].message.content == "Sure, noted."


@pytest.mark.parametrize(("said", "asked", "expected"), SESSION_ROWS)
def test_a_session_keeps_its_state_in_a_new_request(
    proxy: Proxy, upstream: FakeUpstream, said: str, asked: str, expected: str
) -> None:
    proxy.tell("traveller", said, **{"X-Session-Id": "s-trip"})
    raw = ask(proxy, "traveller", asked, **{"X-Session-Id": "s-trip"})
    assert raw.headers["x-memory-status"] == "injected"
    assert expected in upstream.last_chat().memory_text()
    # Another session of the same user does not get this session's state.
    ask(proxy, "traveller", asked, **{"X-Session-Id": "s-other"})
    assert expected not in upstream.last_chat().memory_text()


def test_the_profile_holds_across_sessions_and_an_unrelated_episode_stays_out(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    proxy.tell("mia", "I'm allergic to shellfish.", **{"X-Session-Id": "a"})
    old = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    proxy.tell("mia", "I repainted my bike red.", **{"X-Memory-Time": old})
    ask(proxy, "mia", "Explain how TCP congestion control works.", **{"X-Session-Id": "b"})
    seen = upstream.last_chat().memory_text()
    assert "shellfish" in seen and "bike" not in seen


def test_a_newer_standing_instruction_wins(proxy: Proxy, upstream: FakeUpstream) -> None:
    proxy.tell("lang", "Please always answer me in Spanish from now on.")
    proxy.tell("lang", "From now on, answer me in French.")
    live = [m["text"] for m in proxy.memories("lang")]
    assert live == ["From now on, answer me in French."]
    ask(proxy, "lang", "What is the capital of Australia?")
    seen = upstream.last_chat().memory_text()
    assert "French" in seen and "Spanish" not in seen


def _import(proxy: Proxy, lines: list[dict]) -> None:
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    response = proxy.http.post(
        "/memories/import", content=body, headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text


def test_a_user_with_500_profile_items_still_gets_a_block_within_budget(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(retrieval={"timeout_ms": 10_000})  # a cold load of 500 rows under load
    now = datetime.now(UTC).isoformat()
    _import(
        proxy,
        [
            {
                "id": f"p{i}",
                "text": (
                    "I prefer the Solarized Dark theme in my terminal."
                    if i == 77
                    else f"I prefer option number {i} of colour scheme {i * 7}."
                ),
                "user_id": "big",
                "kind": "preference",
                "tier": "profile",
                "created_at": now,
                "occurred_at": now,
            }
            for i in range(500)
        ],
    )
    raw = ask(proxy, "big", "Which theme should my terminal use?")
    assert raw.headers["x-memory-status"] == "injected"
    seen = upstream.last_chat().memory_text()
    assert 0 < int(raw.headers["x-memory-count"]) < 500
    assert estimate_tokens(seen) <= proxy.settings.retrieval.token_budget
    assert "Solarized Dark" in seen  # the item that matches the question made it in


def test_the_profile_endpoint_and_the_tier_filter(proxy: Proxy) -> None:
    proxy.tell("pat", "I'm vegetarian.")
    proxy.tell("pat", "I went to the dentist on Monday.")
    profile = proxy.http.get("/memories/profile", params={"user_id": "pat"}).json()
    assert profile["object"] == "memory.profile"
    assert [m["text"] for m in profile["data"]] == ["I'm vegetarian."]
    assert profile["injected"] == [profile["data"][0]["id"]]
    assert "I'm vegetarian." in profile["block"] and profile["tokens"] > 0
    episodic = proxy.http.get("/memories", params={"user_id": "pat", "tier": "episodic"}).json()
    assert [m["text"] for m in episodic["data"]] == ["I went to the dentist on Monday."]
    bad = proxy.http.get("/memories", params={"user_id": "pat", "tier": "core"})
    assert bad.status_code == 400


def test_with_the_system_placement_every_tier_is_in_the_system_message(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(inject={"placement": "system"})
    proxy.tell("sys", "I'm allergic to peanuts.")
    proxy.tell("sys", "My order 5521 arrived with a cracked screen.")
    ask(proxy, "sys", "Any news on my order 5521?")
    seen = upstream.last_chat()
    assert "peanuts" in seen.system_text() and "5521" in seen.system_text()
    assert seen.json["messages"][-1]["content"] == "Any news on my order 5521?"
