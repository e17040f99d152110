"""The proxy changes nothing it does not have to: bodies, headers, statuses, streams."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from testbed.fake_upstream import FakeUpstream, Scripted, completion
from tests.conftest import Proxy, ProxyFactory


def test_no_user_id_forwards_the_exact_bytes(proxy: Proxy, upstream: FakeUpstream) -> None:
    body = b'{"model": "gpt-fake",  "messages": [{"role": "user", "content": "hi \\u00e9"}]}'
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json", "authorization": "Bearer sk-client"},
    )
    assert response.status_code == 200
    assert response.headers["x-memory-status"] == "no-user"
    assert upstream.last_chat().body == body
    assert upstream.last_chat().headers["authorization"] == "Bearer sk-client"


def test_mode_off_forwards_the_exact_bytes_and_drops_our_headers(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    proxy.tell("mo", "I live in Oslo.")
    body = b'{"messages":[{"role":"user","content":"Where do I live? Oslo?"}],"model":"gpt-fake"}'
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        content=body,
        headers={
            "content-type": "application/json",
            "x-user-id": "mo",
            "x-session-id": "s",
            "x-agent-id": "a",
            "x-memory-mode": "off",
        },
    )
    assert response.headers["x-memory-status"] == "off"
    recorded = upstream.last_chat()
    assert recorded.body == body
    assert not {"x-user-id", "x-session-id", "x-agent-id", "x-memory-mode"} & set(recorded.headers)


def test_unknown_fields_reach_the_upstream_unchanged(proxy: Proxy, upstream: FakeUpstream) -> None:
    proxy.tell("ned", "I love jazz piano.")
    extra = {
        "temperature": 0.3,
        "metadata": {"k": "v"},
        "verbosity": "low",
        "some_future_field": {"nested": [1, 2, {"x": None}]},
        "user": "ned-in-body",
    }
    proxy.client("ned").chat.completions.create(
        model="gpt-fake",
        messages=[{"role": "user", "content": "Recommend jazz piano albums."}],
        extra_body=extra,
    )
    sent = upstream.last_chat().json
    assert upstream.last_chat().headers.get("x-user-id") is None
    for key, value in extra.items():
        assert sent[key] == value
    assert list(sent)[: len(sent)] == list(sent)  # key order preserved (dict round trip)
    assert sent["messages"][-1] == {"role": "user", "content": "Recommend jazz piano albums."}


def test_injection_keeps_tool_call_adjacency_and_the_developer_role(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    proxy.tell("oz", "I live in Lisbon and prefer metric units.")
    messages = [
        {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "What is the weather in Lisbon where I live?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Lisbon"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
        {"role": "user", "content": "And in Lisbon tomorrow, in metric units?"},
    ]
    raw = proxy.client("oz").chat.completions.with_raw_response.create(
        model="gpt-fake", messages=messages
    )
    assert raw.headers["x-memory-status"] == "injected"
    sent = upstream.last_chat().json["messages"]
    assert [m["role"] for m in sent] == ["developer", "user", "assistant", "tool", "user"]
    assert sent[0]["content"][0] == {"type": "text", "text": "Be brief."}
    assert "Lisbon" in sent[0]["content"][1]["text"]
    assert sent[1:] == messages[1:]


def test_a_system_string_gets_the_block_appended(proxy: Proxy, upstream: FakeUpstream) -> None:
    proxy.tell("pia", "I am learning Japanese.")
    proxy.client("pia").chat.completions.create(
        model="gpt-fake",
        messages=[
            {"role": "system", "content": "You are a tutor."},
            {"role": "user", "content": "Which language am I learning, Japanese?"},
        ],
    )
    system = upstream.last_chat().json["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are a tutor.\n\n<memories>")


def test_a_stream_reaches_the_client_byte_for_byte_and_is_remembered(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    upstream.reply = lambda body: "Noted: you are a cyclist who rides every morning. " * 3
    request = {
        "model": "gpt-fake",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "I cycle to work every morning."}],
    }
    with httpx.stream(
        "POST", f"{proxy.url}/v1/chat/completions", json=request, headers={"x-user-id": "quinn"}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-memory-status"] == "none"
        received = b"".join(response.iter_raw())
    assert received == upstream.sent_streams[-1]
    assert received.endswith(b"data: [DONE]\n\n")
    proxy.flush()
    assert any("cycle to work" in m["text"] for m in proxy.memories("quinn"))


def test_the_sdk_streams_through_the_proxy(proxy: Proxy, upstream: FakeUpstream) -> None:
    upstream.reply = lambda body: "one two three four five six"
    stream = proxy.client("rue").chat.completions.create(
        model="gpt-fake",
        messages=[{"role": "user", "content": "Count please."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five six"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (400, openai.BadRequestError),
    ],
)
def test_upstream_errors_reach_the_client_as_they_came(
    proxy: Proxy, upstream: FakeUpstream, status: int, error_class: type[Exception]
) -> None:
    envelope = {
        "error": {"message": f"upstream says {status}", "type": "x", "param": None, "code": "c"}
    }
    upstream.script(
        Scripted(
            status=status, body=envelope, headers={"x-request-id": "req_err", "retry-after": "0"}
        )
    )
    with pytest.raises(error_class) as caught:
        proxy.client("sam").chat.completions.create(
            model="gpt-fake", messages=[{"role": "user", "content": "hello there"}]
        )
    error = caught.value
    assert isinstance(error, openai.APIStatusError)
    assert error.status_code == status
    assert error.body == envelope["error"]
    assert error.response.headers["x-request-id"] == "req_err"


def test_response_headers_are_kept(proxy: Proxy) -> None:
    raw = proxy.client("tia").chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": "hello"}]
    )
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["x-ratelimit-remaining-requests"] == "99"
    assert len(raw.headers.get_list("date")) == 1
    assert len(raw.headers.get_list("server")) == 1


def test_models_and_embeddings_pass_through(proxy: Proxy, upstream: FakeUpstream) -> None:
    client = proxy.client("uma")
    assert [m.id for m in client.models.list()] == ["gpt-fake"]
    embedding = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(embedding.data) == 2
    recorded = upstream.requests[-1]
    assert recorded.path == "/v1/embeddings"
    assert recorded.json == {
        "model": "text-embedding-3-small",
        "input": ["a", "b"],
        "encoding_format": "base64",
    } or recorded.json["input"] == ["a", "b"]
    assert "x-user-id" not in recorded.headers


def test_other_paths_keep_method_query_and_body(proxy: Proxy, upstream: FakeUpstream) -> None:
    response = httpx.delete(f"{proxy.url}/v1/files/file-1?purpose=x&a=1")
    assert response.json() == {
        "path": "/v1/files/file-1",
        "method": "DELETE",
        "query": "purpose=x&a=1",
        "body_size": 0,
    }
    payload = b"\x00\x01binary" * 1000
    response = httpx.post(f"{proxy.url}/v1/uploads/u1/parts", content=payload)
    assert response.json()["body_size"] == len(payload)


def test_the_configured_key_is_used_only_when_the_client_sends_none(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(upstream_api_key="sk-from-config")
    body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    httpx.post(f"{proxy.url}/v1/chat/completions", json=body)
    assert upstream.last_chat().headers["authorization"] == "Bearer sk-from-config"
    httpx.post(
        f"{proxy.url}/v1/chat/completions", json=body, headers={"authorization": "Bearer mine"}
    )
    assert upstream.last_chat().headers["authorization"] == "Bearer mine"


def test_json_with_unicode_is_forwarded_intact_when_injecting(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    proxy.tell("vic", "我住在上海，喜欢吃小笼包。")
    proxy.client("vic").chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "我喜欢吃什么？小笼包吗？"}]
    )
    sent = json.loads(upstream.last_chat().body)
    assert sent["messages"][-1]["content"] == "我喜欢吃什么？小笼包吗？"
    assert "小笼包" in sent["messages"][0]["content"]


def test_upstream_cookies_are_passed_back_but_never_replayed(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    """One upstream session serves every user: a cookie the upstream set for one caller must
    not ride along on the next caller's request."""
    upstream.script(
        Scripted(
            body=completion({"model": "gpt-fake"}, "hi"), headers={"set-cookie": "sid=alice-1"}
        )
    )
    body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    first = httpx.post(f"{proxy.url}/v1/chat/completions", json=body, headers={"x-user-id": "al"})
    assert first.headers["set-cookie"] == "sid=alice-1"
    httpx.post(f"{proxy.url}/v1/chat/completions", json=body, headers={"x-user-id": "bo"})
    assert "cookie" not in upstream.last_chat().headers


def test_no_request_header_is_invented(proxy: Proxy, upstream: FakeUpstream) -> None:
    body = b'{"model":"gpt-fake","messages":[{"role":"user","content":"hi"}]}'
    with httpx.Client() as client:
        request = client.build_request(
            "POST",
            f"{proxy.url}/v1/chat/completions",
            content=body,
            headers={"content-type": "application/json"},
        )
        for name in ("user-agent", "accept"):
            del request.headers[name]
        assert client.send(request).status_code == 200
    recorded = upstream.last_chat().headers
    assert "user-agent" not in recorded
    assert "accept" not in recorded
    assert recorded["accept-encoding"] == "identity"
