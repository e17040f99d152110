"""Routed models: the official openai SDK talks to the proxy, the proxy talks through litellm to
loopback fakes of Anthropic, Gemini and Ollama. The answer comes back in OpenAI's format, the
memory block is where each provider keeps standing instructions, the turn is written, and the
provider's errors come back as OpenAI envelopes with the provider's status."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from testbed.fake_providers import (
    FakeAnthropic,
    FakeGemini,
    FakeOllama,
    FakeProvider,
    anthropic_system,
    gemini_system,
    ollama_system,
)
from testbed.fake_upstream import FakeUpstream, Recorded
from tests.conftest import Proxy, ProxyFactory, wait_until

PROVIDERS = ("anthropic", "gemini", "ollama")
MODEL = {"anthropic": "claude-home", "gemini": "gemini-home", "ollama": "llama-home"}
SYSTEM: dict[str, Callable[[Recorded], str]] = {
    "anthropic": anthropic_system,
    "gemini": gemini_system,
    "ollama": ollama_system,
}


def route(name: str, fake: FakeProvider, **extra: Any) -> dict[str, Any]:
    if name == "anthropic":
        spec = {"litellm_model": "anthropic/claude-sonnet-4-5", "api_base": fake.url}
        spec["api_key"] = "sk-ant-route"
    elif name == "gemini":
        spec = {"litellm_model": "gemini/gemini-2.5-flash", "api_base": f"{fake.url}/v1beta"}
        spec["api_key"] = "goog-route"
    else:
        spec = {"litellm_model": "ollama/llama3.2", "api_base": fake.url}
    return {"model": MODEL[name], **spec, **extra}


Fakes = dict[str, FakeProvider]


@pytest.fixture
def fakes(anthropic: FakeAnthropic, gemini: FakeGemini, ollama: FakeOllama) -> Fakes:
    return {"anthropic": anthropic, "gemini": gemini, "ollama": ollama}


@pytest.fixture
def routed(make_proxy: ProxyFactory, fakes: Fakes) -> Proxy:
    return make_proxy(routes=[route(name, fake) for name, fake in fakes.items()])


def ask(
    proxy: Proxy, user: str, model: str, messages: list[dict[str, Any]], stream: bool
) -> tuple[str, httpx.Headers, list[Any]]:
    """The answer's text, the response headers, and the stream's chunks (or the completion)."""
    client = proxy.client(user)
    if not stream:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=messages)
        completion = raw.parse()
        assert completion.object == "chat.completion"
        assert completion.choices[0].finish_reason == "stop"
        assert completion.usage is not None and completion.usage.total_tokens > 0
        return completion.choices[0].message.content or "", raw.headers, [completion]
    raw_stream = client.chat.completions.with_raw_response.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(raw_stream.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # the usage chunk, last
    assert chunks[-1].usage.total_tokens > 0
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert len({c.id for c in chunks}) == 1  # one id for the stream, as OpenAI sends
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    return text, raw_stream.headers, chunks


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("name", PROVIDERS)
def test_routed_call_reads_injects_and_writes_memory(
    routed: Proxy, fakes: Fakes, name: str, stream: bool
) -> None:
    """Memory is placed as on the upstream path (cache-aware): the standing profile where the
    provider keeps standing instructions, what was chosen for this turn with the user's message."""
    fake, model = fakes[name], MODEL[name]
    told = [{"role": "user", "content": "I am vegetarian. I keep bees on my roof in Lisbon."}]
    ask(routed, "bea", model, told, stream)
    routed.flush()
    assert sorted(m["text"] for m in routed.memories("bea")) == [
        "I am vegetarian.",
        "I keep bees on my roof in Lisbon.",
    ]

    fake.reply = lambda body: "Your bees live on your roof in Lisbon."
    question = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where do my bees live?"},
    ]
    text, headers, chunks = ask(routed, "bea", model, question, stream)
    assert text == "Your bees live on your roof in Lisbon."
    assert {c.model for c in chunks} == {model}  # the name the client asked for
    assert headers["x-memory-status"] == "injected" and headers["x-memory-count"] == "2"

    sent = fake.last()
    system = SYSTEM[name](sent)
    assert system.startswith("Be brief.")  # the client's own instructions first, then memory
    assert "<memories>" in system and "I am vegetarian." in system
    assert "bees" not in system
    turn = last_user_text(name, sent)
    assert turn.startswith("<memories>") and turn.endswith("Where do my bees live?")
    assert "I keep bees on my roof in Lisbon." in turn and "vegetarian" not in turn


def last_user_text(name: str, sent: Recorded) -> str:
    """The text of the last user turn of the provider's request."""
    body = sent.json
    if name == "gemini":
        return "\n".join(part["text"] for part in body["contents"][-1]["parts"])
    content = body["messages"][-1]["content"]
    if isinstance(content, list):  # Anthropic: text blocks
        return "\n".join(block["text"] for block in content)
    return str(content)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_each_provider_gets_its_own_wire_format(routed: Proxy, fakes: Fakes, stream: bool) -> None:
    for name in PROVIDERS:
        ask(routed, "wire", MODEL[name], [{"role": "user", "content": "Hello there."}], stream)
    anthropic, gemini, ollama = (fakes[name].last() for name in PROVIDERS)

    assert anthropic.path == "/v1/messages"
    assert anthropic.headers["x-api-key"] == "sk-ant-route"  # the route's key, not the client's
    assert anthropic.headers["anthropic-version"]
    assert anthropic.json["model"] == "claude-sonnet-4-5"
    assert anthropic.json.get("stream", False) is stream
    assert anthropic.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hello there."}]}
    ]

    method = "streamGenerateContent" if stream else "generateContent"
    assert gemini.path == f"/v1beta/models/gemini-2.5-flash:{method}"
    assert ("alt=sse" in gemini.query) is stream
    assert gemini.headers["x-goog-api-key"] == "goog-route"
    assert gemini.json["contents"] == [{"role": "user", "parts": [{"text": "Hello there."}]}]

    assert ollama.path == "/api/chat"  # ollama/<model> goes to the chat endpoint
    assert ollama.json["model"] == "llama3.2" and ollama.json["stream"] is stream
    assert ollama.json["messages"][-1]["content"] == "Hello there."
    # No key in the route: the client's own goes, as a bearer token for Ollama.
    assert ollama.headers["authorization"] == "Bearer sk-test-client"


def test_a_client_hanging_up_mid_stream_cancels_the_provider_call_and_keeps_the_turn(
    routed: Proxy, fakes: Fakes
) -> None:
    anthropic = fakes["anthropic"]
    anthropic.chunks, anthropic.chunk_delay = 50, 0.1  # five seconds of stream
    anthropic.reply = lambda body: "Bees are wonderful. " * 20
    body = {
        "model": MODEL["anthropic"],
        "stream": True,
        "messages": [{"role": "user", "content": "I keep bees on my roof in Lisbon."}],
    }
    with httpx.stream(
        "POST", f"{routed.url}/v1/chat/completions", json=body, headers={"x-user-id": "hang"}
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if '"content"' in line:
                break  # hang up after the first words
    wait_until(lambda: anthropic.cut_streams == 1)
    routed.flush()
    assert [m["text"] for m in routed.memories("hang")] == ["I keep bees on my roof in Lisbon."]


def test_tools_are_translated_both_ways(routed: Proxy, fakes: Fakes) -> None:
    anthropic = fakes["anthropic"]
    anthropic.tool_use = {"name": "get_weather", "input": {"city": "Lisbon"}}  # type: ignore[attr-defined]
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    answer = routed.client("tool").chat.completions.create(
        model=MODEL["anthropic"],
        messages=[{"role": "user", "content": "Weather in Lisbon?"}],
        tools=[tool],  # type: ignore[list-item]
    )
    sent = anthropic.last().json["tools"]
    assert sent == [
        {
            "type": "custom",  # Anthropic's type for a client-defined tool
            "name": "get_weather",
            "description": "Weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (  # type: ignore[union-attr]
        "toolu_01",
        "get_weather",
        {"city": "Lisbon"},
    )


def test_a_route_without_a_key_sends_the_clients_own(
    make_proxy: ProxyFactory, anthropic: FakeAnthropic
) -> None:
    spec = route("anthropic", anthropic)
    del spec["api_key"]
    proxy = make_proxy(routes=[spec])
    proxy.client("kay").chat.completions.create(
        model=MODEL["anthropic"], messages=[{"role": "user", "content": "hi"}]
    )
    assert anthropic.last().headers["x-api-key"] == "sk-test-client"


def test_client_parameters_pass_and_litellm_controls_do_not(routed: Proxy, fakes: Fakes) -> None:
    """OpenAI parameters are translated; a body field naming one of litellm's own arguments
    (api_base, mock_response, ...) is dropped, so a client cannot redirect a route's key."""
    answer = routed.client("ctl").chat.completions.create(
        model=MODEL["anthropic"],
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.3,
        max_tokens=77,
        stop=["\n\n"],
        extra_body={
            "api_base": "http://127.0.0.1:9",
            "api_key": "sk-stolen",
            "mock_response": "pwned",
            "metadata": {"leak": True},
            "some_future_field": 1,
        },
    )
    assert answer.choices[0].message.content == "Sure, noted."  # the provider answered
    sent = fakes["anthropic"].last()
    assert sent.headers["x-api-key"] == "sk-ant-route"
    body = sent.json
    assert body["temperature"] == 0.3 and body["max_tokens"] == 77
    assert body["stop_sequences"] == ["\n\n"]
    assert "some_future_field" not in body and body.get("metadata") != {"leak": True}


def test_a_wildcard_route_fills_in_the_model(
    make_proxy: ProxyFactory, anthropic: FakeAnthropic, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(
        routes=[
            {
                "model": "claude-*",
                "litellm_model": "anthropic/claude-*",
                "api_base": anthropic.url,
                "api_key": "k",
            }
        ]
    )
    client = proxy.client("wild")
    client.chat.completions.create(
        model="claude-opus-9", messages=[{"role": "user", "content": "hi"}]
    )
    assert anthropic.last().json["model"] == "claude-opus-9"
    client.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "hi"}])
    assert len(anthropic.requests) == 1 and len(upstream.chat_requests()) == 1


def test_unrouted_models_still_go_upstream_byte_for_byte(
    routed: Proxy, fakes: Fakes, upstream: FakeUpstream
) -> None:
    body = b'{"model": "gpt-fake",  "messages": [{"role": "user", "content": "hi \\u00e9"}]}'
    response = httpx.post(
        f"{routed.url}/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json", "authorization": "Bearer sk-client"},
    )
    assert response.status_code == 200
    assert upstream.last_chat().body == body
    assert all(not fake.requests for fake in fakes.values())


# --- errors -------------------------------------------------------------------------------

ERRORS = [
    (
        "anthropic",
        401,
        {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        },
        {},
        openai.AuthenticationError,
    ),
    (
        "anthropic",
        404,
        {"type": "error", "error": {"type": "not_found_error", "message": "model: claude-x"}},
        {},
        openai.NotFoundError,
    ),
    (
        "anthropic",
        429,
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
        {"retry-after": "7"},
        openai.RateLimitError,
    ),
    (
        "anthropic",
        529,
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        {},
        openai.InternalServerError,
    ),
    (
        "gemini",
        400,
        {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}},
        {},
        openai.BadRequestError,
    ),
    (
        "gemini",
        429,
        {
            "error": {
                "code": 429,
                "message": "Resource has been exhausted.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s"}
                ],
            }
        },
        {},
        openai.RateLimitError,
    ),
    (
        "gemini",
        503,
        {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}},
        {},
        openai.InternalServerError,
    ),
    (
        "ollama",
        404,
        {"error": 'model "llama3.2" not found, try pulling it first'},
        {},
        openai.NotFoundError,
    ),
    (
        "ollama",
        500,
        {"error": "llama runner process has terminated"},
        {},
        openai.InternalServerError,
    ),
]


def _expected(name: str, body: dict[str, Any]) -> tuple[str, str | None]:
    error = body["error"]
    if name == "ollama":
        return error, None
    return error["message"], error.get("status") or error.get("type")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(
    ("name", "status", "body", "headers", "exception"),
    ERRORS,
    ids=[f"{e[0]}-{e[1]}" for e in ERRORS],
)
def test_provider_errors_are_openai_envelopes_with_the_providers_status(
    routed: Proxy,
    fakes: Fakes,
    name: str,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    exception: type[openai.APIStatusError],
    stream: bool,
) -> None:
    fakes[name].fail_next(status, body, headers)
    with pytest.raises(exception) as raised:
        reply = routed.client("err").chat.completions.create(
            model=MODEL[name], messages=[{"role": "user", "content": "hi"}], stream=stream
        )
        list(reply) if stream else None  # type: ignore[call-overload]
    error = raised.value
    assert error.status_code == status  # an HTTP status even for a stream: before any chunk
    message, code = _expected(name, body)
    envelope = error.response.json()["error"]
    assert set(envelope) == {"message", "type", "param", "code"}
    assert envelope["message"] == message
    if code is not None:
        assert envelope["code"] == code
    assert error.response.headers["x-memory-status"] == "none"  # as on the upstream path
    if status == 429:
        assert envelope["type"] == "rate_limit_error"
        assert error.response.headers["retry-after"] == ("7" if name == "anthropic" else "31")


def test_a_refused_call_still_keeps_what_the_user_said(routed: Proxy, fakes: Fakes) -> None:
    fakes["anthropic"].fail_next(
        500, {"type": "error", "error": {"type": "api_error", "message": "boom"}}
    )
    with pytest.raises(openai.InternalServerError):
        routed.client("kept").chat.completions.create(
            model=MODEL["anthropic"],
            messages=[{"role": "user", "content": "I moved to Porto last spring."}],
        )
    routed.flush()
    assert [m["text"] for m in routed.memories("kept")] == ["I moved to Porto last spring."]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_provider_that_does_not_answer_in_time_is_a_504(
    make_proxy: ProxyFactory, anthropic: FakeAnthropic, stream: bool
) -> None:
    proxy = make_proxy(routes=[route("anthropic", anthropic, timeout_s=0.3)])
    anthropic.delay = 3.0
    with pytest.raises(openai.InternalServerError) as raised:
        reply = proxy.client("slow").chat.completions.create(
            model=MODEL["anthropic"], messages=[{"role": "user", "content": "hi"}], stream=stream
        )
        list(reply) if stream else None  # type: ignore[call-overload]
    assert raised.value.status_code == 504
    assert raised.value.response.json()["error"]["code"] == "upstream_timeout"


def test_an_unreachable_provider_is_a_502(make_proxy: ProxyFactory) -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proxy = make_proxy(
        routes=[
            {
                "model": "gone",
                "litellm_model": "anthropic/claude-x",
                "api_base": f"http://127.0.0.1:{port}",
                "api_key": "k",
            }
        ]
    )
    with pytest.raises(openai.APIStatusError) as raised:
        proxy.client("gone").chat.completions.create(
            model="gone", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.status_code == 502
    assert raised.value.response.json()["error"]["code"] == "upstream_unreachable"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"temperature": "hot"}, "temperature"),
        ({"tools": "all of them"}, "tools"),
        ({"tools": [{"type": "function"}]}, "tools[0].function"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        ({"messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ],
)
def test_input_litellm_cannot_translate_is_a_400_naming_the_parameter(
    routed: Proxy, fakes: Fakes, extra: dict[str, Any], param: str
) -> None:
    body = {"model": MODEL["gemini"], "messages": [{"role": "user", "content": "hi"}], **extra}
    response = httpx.post(f"{routed.url}/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert not fakes["gemini"].requests
