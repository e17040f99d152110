"""Cache-aware placement (the default) on the Responses API and Anthropic Messages, with the
official SDKs: a resent conversation's requests extend each other at the upstream (its earlier
blocks come back where they were), and every memory the turns needed reached the model."""

from __future__ import annotations

import itertools
import json
from typing import Any

from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy
from tests.test_placement import FACTS, QUESTIONS


def _prefix_holds(sent: list[str]) -> None:
    for earlier, later in itertools.pairwise(sent):
        assert later.startswith(earlier[:-1]), "a request must extend the one before it"
    for needle in ("peanuts", "Porto", "Pixel", "Honda", "dentist"):
        assert needle in sent[-1]
    assert sent[-1].count("I'm allergic to peanuts.") == 1


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_a_responses_conversation_keeps_its_prefix(proxy: Proxy, upstream: FakeUpstream) -> None:
    for fact in FACTS:
        proxy.tell("rosa", fact)
    client = proxy.client("rosa")
    history: list[dict[str, Any]] = []
    sent: list[str] = []
    for question in QUESTIONS:
        history.append({"role": "user", "content": question})
        answer = client.responses.create(
            model="gpt-fake", instructions="You are helpful.", input=history
        )
        history.append({"role": "assistant", "content": answer.output_text})
        recorded = upstream.last("/v1/responses").json
        sent.append(_json(recorded.get("instructions")) + _json(recorded["input"]))
    _prefix_holds(sent)


def test_an_anthropic_conversation_keeps_its_prefix(proxy: Proxy, upstream: FakeUpstream) -> None:
    for fact in FACTS:
        proxy.tell("anke", fact)
    client = proxy.anthropic("anke")
    history: list[dict[str, Any]] = []
    sent: list[str] = []
    for question in QUESTIONS:
        history.append({"role": "user", "content": question})
        answer = client.messages.create(
            model="claude-fake", max_tokens=50, system="You are helpful.", messages=history
        )
        history.append({"role": "assistant", "content": answer.content[0].text})
        recorded = upstream.last("/v1/messages").json
        sent.append(_json(recorded.get("system")) + _json(recorded["messages"]))
    _prefix_holds(sent)


def test_with_previous_response_id_the_block_rides_on_this_input_only(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    proxy.tell("pete", "My sister Ana lives in Porto and works as an architect.")
    client = proxy.client("pete")
    first = client.responses.create(model="gpt-fake", input="Hello!")
    client.responses.create(
        model="gpt-fake", previous_response_id=first.id, input="Where does my sister Ana live?"
    )
    recorded = upstream.last("/v1/responses").json
    assert "Porto" in _json([recorded.get("instructions"), recorded["input"]])
    assert recorded["previous_response_id"] == first.id
