"""The core loop through real servers and the official SDK: remember, recall, isolate."""

from __future__ import annotations

import json

import httpx
import pytest

from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy


def ask(proxy: Proxy, user: str, text: str, **headers: str):
    return proxy.client(user, **headers).chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": text}]
    )


def test_a_fact_told_in_one_conversation_is_injected_in_a_later_one(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    proxy.tell("alice", "I live in Berlin and I work as a nurse.")
    raw = ask(proxy, "alice", "Which city do I live in?")
    assert raw.headers["x-memory-status"] == "injected"
    assert int(raw.headers["x-memory-count"]) >= 1
    assert "I live in Berlin" in upstream.last_chat().memory_text()
    assert raw.parse().choices[0].message.content == "Sure, noted."


def test_user_b_never_sees_user_a_memory(proxy: Proxy, upstream: FakeUpstream) -> None:
    proxy.tell("user-a", "My favourite colour is teal and my dog is called Biscuit.")
    raw = ask(proxy, "user-b", "What is my favourite colour? What is my dog called?")
    assert raw.headers["x-memory-status"] == "none"
    sent = upstream.last_chat().body.decode()
    assert "teal" not in sent and "Biscuit" not in sent
    assert proxy.memories("user-b") == []
    assert any("Biscuit" in m["text"] for m in proxy.memories("user-a"))


def test_an_irrelevant_memory_is_not_injected(proxy: Proxy, upstream: FakeUpstream) -> None:
    # An episode (a standing fact like an allergy is the profile: it is injected on purpose).
    proxy.tell("carol", "I repainted my bike red last weekend.")
    raw = ask(proxy, "carol", "Explain how TCP congestion control works.")
    assert raw.headers["x-memory-status"] == "none"
    assert upstream.last_chat().memory_text() == ""


def test_a_chinese_fact_is_recalled_by_a_chinese_question(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    proxy.tell("li", "我喜欢喝乌龙茶，不喜欢咖啡。")
    raw = ask(proxy, "li", "我喜欢喝什么茶？")
    assert raw.headers["x-memory-status"] == "injected"
    assert "乌龙茶" in upstream.last_chat().memory_text()


def test_a_secret_is_neither_stored_nor_injected_but_the_fact_beside_it_is(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    secret = "sk-proj-" + "Q7x9" * 10
    proxy.tell("dave", f"My OpenAI key is {secret}. I prefer answers in French.")
    texts = [m["text"] for m in proxy.memories("dave")]
    assert any("French" in t for t in texts)
    assert not any(secret in t for t in texts)
    ask(proxy, "dave", "Which language do I prefer for answers? And what is my key?")
    injected = upstream.last_chat().memory_text()
    assert "French" in injected
    assert secret not in injected


def test_resent_history_does_not_store_old_turns_again(proxy: Proxy) -> None:
    client = proxy.client("erin")
    history = [{"role": "user", "content": "I have two cats named Miso and Tofu."}]
    client.chat.completions.create(model="gpt-fake", messages=history)
    proxy.flush()
    first = proxy.memories("erin")
    history += [
        {"role": "assistant", "content": "Lovely names!"},
        {"role": "user", "content": "I am training for the Lisbon marathon in October."},
    ]
    client.chat.completions.create(model="gpt-fake", messages=history)
    proxy.flush()
    second = proxy.memories("erin")
    cats = [m for m in second if "Miso" in m["text"]]
    assert len(cats) == 1 and cats[0]["id"] == next(m["id"] for m in first if "Miso" in m["text"])
    assert any("marathon" in m["text"] for m in second)


def test_a_repeated_fact_is_not_stored_twice(proxy: Proxy) -> None:
    proxy.tell("fay", "I am vegetarian.")
    proxy.tell("fay", "I am vegetarian.")
    proxy.tell("fay", "I'm a vegetarian.")
    assert len([m for m in proxy.memories("fay") if "vegetarian" in m["text"]]) == 1


def test_the_assistant_answer_is_not_stored_as_a_user_fact(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    upstream.reply = lambda body: "You live in Paris and you love opera."
    proxy.tell("gus", "I collect vintage fountain pens.")
    texts = " ".join(m["text"] for m in proxy.memories("gus"))
    assert "fountain pens" in texts
    assert "Paris" not in texts


def test_memory_time_header_dates_the_memory_in_the_block(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    proxy.tell("hal", "I adopted a puppy named Pixel.", **{"X-Memory-Time": "2023-05-08T13:56:00Z"})
    ask(proxy, "hal", "When did I adopt my puppy Pixel?")
    assert "[2023-05-08] I adopted a puppy named Pixel." in upstream.last_chat().memory_text()
    (memory,) = proxy.memories("hal")
    assert memory["occurred_at"].startswith("2023-05-08T13:56:00")


def test_sessions_narrow_what_is_read(proxy: Proxy, upstream: FakeUpstream) -> None:
    proxy.tell("ivy", "My project codename is Falcon.", **{"X-Session-Id": "s1"})
    raw = ask(proxy, "ivy", "What is my project codename Falcon about?", **{"X-Session-Id": "s2"})
    assert raw.headers["x-memory-status"] == "none"
    raw = ask(proxy, "ivy", "What is my project codename Falcon about?", **{"X-Session-Id": "s1"})
    assert raw.headers["x-memory-status"] == "injected"
    assert [m["session_id"] for m in proxy.memories("ivy")] == ["s1"]


def test_modes_control_reading_and_writing(proxy: Proxy, upstream: FakeUpstream) -> None:
    proxy.tell("jo", "I play the cello.", **{"X-Memory-Mode": "read-only"})
    assert proxy.memories("jo") == []
    proxy.tell("jo", "I play the cello.", **{"X-Memory-Mode": "write-only"})
    assert len(proxy.memories("jo")) == 1
    raw = ask(proxy, "jo", "Which instrument do I play, the cello?", **{"X-Memory-Mode": "off"})
    assert raw.headers["x-memory-status"] == "off"
    assert "cello" not in upstream.last_chat().memory_text()
    raw = ask(
        proxy, "jo", "Which instrument do I play, the cello?", **{"X-Memory-Mode": "read-only"}
    )
    assert raw.headers["x-memory-status"] == "injected"


def test_the_body_user_field_and_query_parameter_scope_memory(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    client = proxy.client()
    client.chat.completions.create(
        model="gpt-fake", user="kim", messages=[{"role": "user", "content": "I speak Korean."}]
    )
    proxy.flush()
    assert len(proxy.memories("kim")) == 1
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions?user_id=kim",
        json={"model": "gpt-fake", "messages": [{"role": "user", "content": "Do I speak Korean?"}]},
    )
    assert response.headers["x-memory-status"] == "injected"
    assert json.loads(upstream.last_chat().body)["messages"][0]["role"] == "system"


@pytest.mark.parametrize("user", ["Zoë", "张伟"])
def test_a_non_ascii_user_id_is_one_user_in_header_body_and_query(proxy: Proxy, user: str) -> None:
    """The header arrives as UTF-8 bytes; the body and the query carry the same id as text."""
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        json={"model": "gpt-fake", "messages": [{"role": "user", "content": "I speak Korean."}]},
        headers={"x-user-id": user.encode()},
    )
    assert response.status_code == 200
    proxy.flush()
    assert [m["text"] for m in proxy.memories(user)] == ["I speak Korean."]
    answer = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-fake", user=user, messages=[{"role": "user", "content": "Do I speak Korean?"}]
    )
    assert answer.headers["x-memory-status"] == "injected"
