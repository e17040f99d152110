"""Cache-aware placement (issue 19), end to end with the official SDK: a conversation's requests
share their prefix at the upstream from turn to turn, the memories still reach the model, and
tool calls keep their replies next to them."""

from __future__ import annotations

import itertools
import json
from typing import Any

from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy

FACTS = [
    "I'm allergic to peanuts.",
    "I prefer short answers.",
    "My sister Ana lives in Porto and works as an architect.",
    "I adopted a grey cat named Pixel in March.",
    "My car is a blue 2015 Honda Civic.",
    "I booked a dentist appointment for the 14th.",
]
QUESTIONS = [
    "Where does my sister Ana live?",
    "What is my cat Pixel like?",
    "Which car do I drive, the Honda?",
    "When is my dentist appointment?",
    "Any snack ideas for a road trip?",
]


def _messages_json(body: bytes) -> str:
    return json.dumps(json.loads(body)["messages"], ensure_ascii=False, separators=(",", ":"))


def _converse(proxy: Proxy, upstream: FakeUpstream, user: str) -> list[str]:
    client = proxy.client(user)
    history: list[dict[str, Any]] = [{"role": "system", "content": "You are helpful."}]
    sent: list[str] = []
    for question in QUESTIONS:
        history.append({"role": "user", "content": question})
        answer = client.chat.completions.create(model="gpt-fake", messages=history)
        history.append({"role": "assistant", "content": answer.choices[0].message.content})
        sent.append(_messages_json(upstream.last_chat().body))
    return sent


def test_a_conversation_keeps_its_prefix_from_turn_to_turn(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    for fact in FACTS:
        proxy.tell("carla", fact)
    sent = _converse(proxy, upstream, "carla")
    for earlier, later in itertools.pairwise(sent):
        assert later.startswith(earlier[:-1]), "a request must extend the one before it"
    last = sent[-1]
    for needle in ("peanuts", "Porto", "Pixel", "Honda", "dentist"):
        assert needle in last  # every memory the turns needed reached the model
    assert last.count("I'm allergic to peanuts.") == 1  # no memory twice


def test_the_system_placement_rewrites_the_prefix(make_proxy, upstream: FakeUpstream) -> None:
    """The measurement's other side: with every tier in the system message, turns whose
    memories differ change the prefix at the system message."""
    proxy = make_proxy(inject={"placement": "system"})
    for fact in FACTS:
        proxy.tell("sam", fact)
    sent = _converse(proxy, upstream, "sam")
    assert any(not b.startswith(a[:-1]) for a, b in itertools.pairwise(sent))


def test_a_retry_sends_the_same_bytes(proxy: Proxy, upstream: FakeUpstream) -> None:
    proxy.tell("rio", "My sister Ana lives in Porto.")
    client = proxy.client("rio")
    messages = [{"role": "user", "content": "Where does my sister Ana live?"}]
    client.chat.completions.create(model="gpt-fake", messages=messages)
    first = upstream.last_chat().body
    client.chat.completions.create(model="gpt-fake", messages=messages)
    assert upstream.last_chat().body == first
    assert "Porto" in upstream.last_chat().memory_text()


def test_tool_calls_keep_their_replies_and_the_prefix(proxy: Proxy, upstream: FakeUpstream) -> None:
    proxy.tell("tia", "My sister Ana lives in Porto.")
    client = proxy.client("tia")
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "Book a trip to see my sister Ana."}
    ]
    client.chat.completions.create(model="gpt-fake", messages=history)
    first = _messages_json(upstream.last_chat().body)
    history += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "book", "arguments": '{"city": "Porto"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "booked"},
    ]
    client.chat.completions.create(model="gpt-fake", messages=history)
    seen = upstream.last_chat()
    roles = [m["role"] for m in seen.json["messages"]]
    assert roles == ["user", "assistant", "tool"]  # nothing between the call and its reply
    assert _messages_json(seen.body).startswith(first[:-1])
    assert "Porto" in seen.memory_text()
