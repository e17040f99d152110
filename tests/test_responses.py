"""The Responses API through the proxy with the official openai SDK: memory written after a first
conversation and injected into `instructions` in a second one, streamed or not; what is never
touched; errors; the calls that stay pass-through."""

from __future__ import annotations

import httpx
import openai
import pytest

from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory

RESPONSES = "/v1/responses"


@pytest.fixture
def proxy(make_proxy: ProxyFactory) -> Proxy:
    """Memory in the standing instructions (the system placement), where these tests look for
    it; the cache-aware placement's turn blocks are tested in test_responses/test_messages."""
    return make_proxy(inject={"placement": "system"})


def remembered(proxy: Proxy, user: str) -> str:
    proxy.flush()
    return " ".join(m["text"] for m in proxy.memories(user))


def test_create_remembers_a_turn_and_injects_it_into_instructions(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    client = proxy.client("rita")
    first = client.responses.create(model="gpt-fake", input="I live in Porto and I keep bees.")
    assert first.output_text == "Sure, noted."
    assert "I live in Porto" in remembered(proxy, "rita")
    assert "<memories>" not in upstream.last(RESPONSES).body.decode()  # nothing to recall yet

    raw = client.responses.with_raw_response.create(
        model="gpt-fake", instructions="Be brief.", input="Which city do I live in, Porto?"
    )
    assert raw.headers["x-memory-status"] == "injected"
    assert int(raw.headers["x-memory-count"]) >= 1
    instructions = upstream.last(RESPONSES).instructions()
    assert instructions.startswith("Be brief.\n\n<memories>")
    assert "I live in Porto" in instructions
    assert upstream.last(RESPONSES).json["input"] == "Which city do I live in, Porto?"
    assert raw.parse().output_text == "Sure, noted."


def test_a_streamed_create_is_passed_on_byte_for_byte_and_remembered(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    upstream.reply = lambda body: "Noted: you sail a small boat on weekends. " * 3
    with httpx.stream(
        "POST",
        f"{proxy.url}/v1/responses",
        json={"model": "gpt-fake", "stream": True, "input": "I sail a small boat on weekends."},
        headers={"x-user-id": "sven"},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-memory-status"] == "none"
        received = b"".join(response.iter_raw())
    assert received == upstream.sent_streams[-1]
    assert "sail a small boat" in remembered(proxy, "sven")

    stream = proxy.client("sven").responses.create(
        model="gpt-fake", stream=True, input="What do I do on weekends, sail?"
    )
    events = list(stream)
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == upstream.reply({})
    assert "I sail a small boat on weekends." in upstream.last(RESPONSES).instructions()


def test_the_stream_helper_gets_its_events_and_the_final_response(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    client = proxy.client("tove")
    with client.responses.stream(model="gpt-fake", input="My daughter is called Ylva.") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Sure, noted."
    assert "Ylva" in remembered(proxy, "tove")

    with client.responses.stream(
        model="gpt-fake", input=[{"role": "user", "content": "What is my daughter Ylva's name?"}]
    ) as stream:
        stream.until_done()
    assert "My daughter is called Ylva." in upstream.last(RESPONSES).instructions()


def test_items_other_than_messages_are_never_touched(proxy: Proxy, upstream: FakeUpstream) -> None:
    proxy.tell("ulf", "I live in Bergen.")
    items = [
        {"type": "message", "role": "developer", "content": "Use tools."},
        {
            "role": "user",
            "content": [{"type": "input_text", "text": "Weather in Bergen where I live?"}],
        },
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "weather",
            "arguments": '{"city": "Bergen"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": '{"rain": true}'},
        {"type": "input_file", "file_id": "file-1"},
    ]
    raw = proxy.client("ulf").responses.with_raw_response.create(model="gpt-fake", input=items)
    assert raw.headers["x-memory-status"] == "injected"  # queried by the last user message
    sent = upstream.last(RESPONSES).json
    assert sent["input"] == items
    assert "I live in Bergen." in sent["instructions"]
    proxy.flush()
    # the call ends with a tool result: no new user turn, nothing stored twice
    assert [m["text"] for m in proxy.memories("ulf")] == ["I live in Bergen."]


def test_with_previous_response_id_the_new_turn_is_this_input(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    client = proxy.client("vera")
    first = client.responses.create(model="gpt-fake", input="I play the oboe.")
    client.responses.create(
        model="gpt-fake",
        previous_response_id=first.id,
        input=[{"role": "user", "content": "I also sing in a choir."}],
    )
    assert upstream.last(RESPONSES).json["previous_response_id"] == first.id
    texts = remembered(proxy, "vera")
    assert "oboe" in texts and "choir" in texts


def test_scope_from_safety_identifier_and_user(proxy: Proxy, upstream: FakeUpstream) -> None:
    client = proxy.client()
    client.responses.create(model="gpt-fake", safety_identifier="wim", input="I am a welder.")
    assert "welder" in remembered(proxy, "wim")
    raw = client.responses.with_raw_response.create(
        model="gpt-fake", user="wim", input="What is my job, welder?"
    )
    assert raw.headers["x-memory-status"] == "injected"
    assert upstream.last(RESPONSES).json["user"] == "wim"  # the body goes on as it came


def test_a_cut_stream_raises_in_the_sdk_and_the_turn_is_kept(proxy: Proxy) -> None:
    stream = proxy.client("xan").responses.create(
        model="cut-stream", stream=True, input="I collect old maps."
    )
    with pytest.raises(openai.APIError, match=r"without response\.completed"):
        list(stream)
    assert "old maps" in remembered(proxy, "xan")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": 5}, "input"),
        ({"model": "m", "input": ["not an item"]}, "input[0]"),
        ({"model": "m", "input": "hi", "instructions": ["x"]}, "instructions"),
    ],
)
def test_bad_input_is_a_400_in_openai_envelope(
    proxy: Proxy, upstream: FakeUpstream, body: dict, param: str
) -> None:
    before = len(upstream.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        proxy.client("yul").responses.create(**body)
    assert caught.value.status_code == 400
    assert caught.value.param == param
    assert len(upstream.requests) == before


def test_retrieve_delete_input_items_and_cancel_pass_through(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    client = proxy.client("zed")
    for call, method, path in [
        (lambda: client.responses.retrieve("resp_1"), "GET", "/v1/responses/resp_1"),
        (lambda: client.responses.delete("resp_1"), "DELETE", "/v1/responses/resp_1"),
        (
            lambda: client.responses.input_items.list("resp_1"),
            "GET",
            "/v1/responses/resp_1/input_items",
        ),
        (lambda: client.responses.cancel("resp_1"), "POST", "/v1/responses/resp_1/cancel"),
    ]:
        call()
        recorded = upstream.requests[-1]
        assert (recorded.method, recorded.path) == (method, path)
        assert "x-user-id" not in recorded.headers
