"""Anthropic Messages through the proxy with the official anthropic SDK: memory written after a
first conversation and joined to `system` in a second one, streamed or not; prompt-cache
breakpoints kept valid; credentials; errors in Anthropic's envelope; count_tokens."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory

MESSAGES = "/v1/messages"


@pytest.fixture
def proxy(make_proxy: ProxyFactory) -> Proxy:
    """Memory in the standing instructions (the system placement), where these tests look for
    it; the cache-aware placement's turn blocks are tested in test_responses/test_messages."""
    return make_proxy(inject={"placement": "system"})


def say(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def sent_key(headers: dict[str, str]) -> str:
    """The SDK's credential as the upstream got it (anthropic 2.x sends the key as a Bearer)."""
    return headers.get("x-api-key") or headers["authorization"].removeprefix("Bearer ")


def remembered(proxy: Proxy, user: str) -> str:
    proxy.flush()
    return " ".join(m["text"] for m in proxy.memories(user))


def test_create_remembers_a_turn_and_joins_it_to_system(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    client = proxy.anthropic("ada")
    first = client.messages.create(
        model="claude-fake", max_tokens=100, messages=say("I work as a glassblower in Murano.")
    )
    assert first.content[0].text == "Sure, noted."
    assert "glassblower" in remembered(proxy, "ada")
    assert "system" not in upstream.last(MESSAGES).json

    raw = client.messages.with_raw_response.create(
        model="claude-fake",
        max_tokens=100,
        system="You are terse.",
        messages=say("What is my job, glassblower?"),
    )
    assert raw.headers["x-memory-status"] == "injected"
    system = upstream.last(MESSAGES).json["system"]
    assert system.startswith("You are terse.\n\n<memories>")
    assert "I work as a glassblower in Murano." in system
    assert raw.parse().content[0].text == "Sure, noted."
    recorded = upstream.last(MESSAGES)
    assert sent_key(recorded.headers) == "sk-ant-test-client"
    assert recorded.headers["anthropic-version"]
    assert "x-user-id" not in recorded.headers


def test_the_stream_helper_is_teed_and_remembered(proxy: Proxy, upstream: FakeUpstream) -> None:
    upstream.reply = lambda body: "Noted, you restore old pianos. " * 4
    client = proxy.anthropic("bo")
    with client.messages.stream(
        model="claude-fake", max_tokens=100, messages=say("I restore old pianos.")
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == final.content[0].text == upstream.reply({})
    assert final.stop_reason == "end_turn"
    assert "restore old pianos" in remembered(proxy, "bo")

    with client.messages.stream(
        model="claude-fake",
        max_tokens=100,
        system=[{"type": "text", "text": "Be kind."}],
        messages=say("What do I restore, pianos?"),
    ) as stream:
        stream.until_done()
    assert "I restore old pianos." in upstream.last(MESSAGES).anthropic_system()


def test_a_streamed_create_is_passed_on_byte_for_byte(proxy: Proxy, upstream: FakeUpstream) -> None:
    proxy.anthropic("cy").messages.create(
        model="claude-fake", max_tokens=10, messages=say("I live in Graz.")
    )
    proxy.flush()
    with httpx.stream(
        "POST",
        f"{proxy.url}/v1/messages",
        json={
            "model": "claude-fake",
            "max_tokens": 10,
            "stream": True,
            "messages": say("Where do I live, Graz?"),
        },
        headers={"x-user-id": "cy", "anthropic-version": "2023-06-01"},
    ) as response:
        assert response.headers["x-memory-status"] == "injected"
        received = b"".join(response.iter_raw())
    assert received == upstream.sent_streams[-1]
    events = list(
        proxy.anthropic("cy").messages.create(
            model="claude-fake", max_tokens=10, stream=True, messages=say("Graz?")
        )
    )
    assert [e.type for e in events][:3] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
    ]
    assert events[-1].type == "message_stop"


def test_the_block_comes_after_the_last_cache_breakpoint(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    proxy.anthropic("dag").messages.create(
        model="claude-fake", max_tokens=10, messages=say("I am a beekeeper in Umbria.")
    )
    proxy.flush()
    system = [
        {"type": "text", "text": "Long stable preamble.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Today's notes."},
    ]
    proxy.anthropic("dag").messages.create(
        model="claude-fake", max_tokens=10, system=system, messages=say("Am I a beekeeper?")
    )
    sent = upstream.last(MESSAGES).json["system"]
    assert sent[:2] == system  # the cached prefix is byte-for-byte what the client sent
    assert sent[2]["type"] == "text" and "beekeeper in Umbria" in sent[2]["text"]
    assert "cache_control" not in sent[2]


def test_tool_results_and_other_blocks_are_never_touched(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    proxy.tell("eli", "I live in Tromsø.")
    messages = [
        {"role": "user", "content": "What is the weather in Tromsø where I live?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "tu_1", "name": "weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": "snow"}],
        },
    ]
    raw = proxy.anthropic("eli").messages.with_raw_response.create(
        model="claude-fake", max_tokens=10, messages=messages
    )
    assert raw.headers["x-memory-status"] == "injected"  # queried by the user's own words
    assert upstream.last(MESSAGES).json["messages"] == messages
    proxy.flush()
    assert [m["text"] for m in proxy.memories("eli")] == ["I live in Tromsø."]


def test_count_tokens_passes_through_to_the_anthropic_upstream(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    count = proxy.anthropic("fay").messages.count_tokens(
        model="claude-fake", messages=say("How many tokens is this?")
    )
    assert count.input_tokens > 0
    recorded = upstream.last("/v1/messages/count_tokens")
    assert sent_key(recorded.headers) == "sk-ant-test-client"
    assert "x-user-id" not in recorded.headers


def test_the_configured_key_is_sent_only_without_a_client_credential(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(anthropic_api_key="sk-ant-from-config", upstream_api_key="sk-openai")
    body = {"model": "claude-fake", "max_tokens": 5, "messages": say("hi")}
    httpx.post(f"{proxy.url}/v1/messages", json=body)
    recorded = upstream.last(MESSAGES).headers
    assert recorded["x-api-key"] == "sk-ant-from-config" and "authorization" not in recorded
    for own in ({"authorization": "Bearer oauth"}, {"x-api-key": "sk-ant-own"}):
        httpx.post(f"{proxy.url}/v1/messages", json=body, headers=own)
        recorded = upstream.last(MESSAGES).headers
        assert {k: recorded.get(k) for k in ("authorization", "x-api-key")} == {
            "authorization": None,
            "x-api-key": None,
            **own,
        }


def test_a_cut_stream_raises_in_the_sdk_and_the_turn_is_kept(proxy: Proxy) -> None:
    client = proxy.anthropic("gil")
    with (
        pytest.raises(anthropic.APIStatusError, match="without message_stop"),
        client.messages.stream(
            model="cut-stream", max_tokens=10, messages=say("I keep chickens.")
        ) as stream,
    ):
        stream.until_done()
    assert "chickens" in remembered(proxy, "gil")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
        ({"model": "m", "max_tokens": 5, "messages": ["x"]}, "messages.0"),
        ({"model": "m", "max_tokens": 5, "messages": say("hi"), "system": 3}, "system"),
    ],
)
def test_bad_input_is_a_400_in_anthropic_envelope(
    proxy: Proxy, upstream: FakeUpstream, body: dict, message: str
) -> None:
    before = len(upstream.requests)
    with pytest.raises(anthropic.BadRequestError) as caught:
        proxy.anthropic("hal").messages.create(**body)
    assert caught.value.status_code == 400
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert caught.value.body["error"]["message"].startswith(message)
    assert len(upstream.requests) == before


def test_our_own_errors_are_anthropic_envelopes(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    small = make_proxy(max_body_bytes=1024)
    response = httpx.post(
        f"{small.url}/v1/messages",
        json={"model": "m", "max_tokens": 5, "messages": say("x" * 2000)},
    )
    assert response.status_code == 413
    assert response.json() == {
        "type": "error",
        "error": {"type": "request_too_large", "message": "request body exceeds 1024 bytes"},
    }
    response = httpx.post(
        f"{small.url}/v1/messages",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    bad_id = httpx.post(f"{small.url}/u/%20x/v1/messages", json={"messages": say("hi")})
    assert bad_id.status_code == 400 and bad_id.json()["type"] == "error"

    unreachable = make_proxy(anthropic_upstream_url="http://127.0.0.1:9")
    with pytest.raises(anthropic.APIStatusError) as caught:
        unreachable.anthropic("ian").messages.create(model="m", max_tokens=5, messages=say("hello"))
    assert caught.value.status_code == 502
    assert caught.value.body["error"]["type"] == "api_error"

    slow = make_proxy(upstream_timeout_s=0.3)
    upstream.delay = lambda body: 2.0
    with pytest.raises(anthropic.APIStatusError) as caught:
        slow.anthropic("ian").messages.create(model="m", max_tokens=5, messages=say("hello"))
    assert caught.value.status_code == 504
    assert caught.value.body["error"]["type"] == "timeout_error"


def test_upstream_errors_reach_the_client_as_they_came(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    from testbed.fake_upstream import Scripted

    envelope = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    upstream.script(Scripted(status=529, body=envelope, headers={"request-id": "req_x"}))
    with pytest.raises(anthropic.APIStatusError) as caught:
        proxy.anthropic("jan").messages.create(model="m", max_tokens=5, messages=say("hello"))
    assert caught.value.status_code == 529
    assert caught.value.body == envelope
    assert caught.value.response.headers["request-id"] == "req_x"
