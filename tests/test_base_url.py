"""A base URL that carries the user (`/u/{user_id}/v1`) on every /v1 route, the zero-code recipe
(`OPENAI_BASE_URL` and nothing else), the order of scope sources, `?user_id=` never forwarded,
and no response header twice on any route."""

from __future__ import annotations

from collections import Counter
from urllib.parse import quote

import anthropic
import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI

from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory
from tests.raw_upstream import Connection, RawUpstream

ASK = [{"role": "user", "content": "Where do I live, Lisbon?"}]


@pytest.fixture
def proxy(make_proxy: ProxyFactory) -> Proxy:
    """Memory in the standing instructions (the system placement), where these tests look for
    it; the cache-aware placement's turn blocks are tested in test_responses/test_messages."""
    return make_proxy(inject={"placement": "system"})


def remembered(proxy: Proxy, user: str) -> list[str]:
    proxy.flush()
    return [m["text"] for m in proxy.memories(user)]


def test_the_zero_code_recipe_with_the_openai_sdk(
    proxy: Proxy, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{proxy.url}/u/alice/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-zero-code")
    with openai.OpenAI(max_retries=0) as client:
        client.chat.completions.create(
            model="gpt-fake", messages=[{"role": "user", "content": "I live in Lisbon."}]
        )
        assert remembered(proxy, "alice") == ["I live in Lisbon."]
        raw = client.chat.completions.with_raw_response.create(model="gpt-fake", messages=ASK)
        assert raw.headers["x-memory-status"] == "injected"
        assert "I live in Lisbon." in upstream.last_chat().system_text()
        client.responses.create(model="gpt-fake", input="Where do I live, Lisbon?")
        assert "I live in Lisbon." in upstream.last("/v1/responses").instructions()
    recorded = upstream.last("/v1/responses")
    assert recorded.headers["authorization"] == "Bearer sk-zero-code"
    assert "alice" not in recorded.path + recorded.query


def test_the_zero_code_recipe_with_langchain(
    proxy: Proxy, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{proxy.url}/u/bob/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-zero-code")
    facts = {False: "I have three brothers.", True: "I grow orchids in my greenhouse."}
    for use_responses_api, fact in facts.items():  # chat completions, then the Responses API
        llm = ChatOpenAI(model="gpt-fake", use_responses_api=use_responses_api, max_retries=0)
        llm.invoke(fact)
    assert sorted(remembered(proxy, "bob")) == sorted(facts.values())
    llm = ChatOpenAI(model="gpt-fake", use_responses_api=True)
    llm.invoke("How many brothers do I have?")
    assert "brothers" in upstream.last("/v1/responses").instructions()


def test_anthropic_base_url_carries_the_user(proxy: Proxy, upstream: FakeUpstream) -> None:
    with anthropic.Anthropic(
        base_url=f"{proxy.url}/u/carla", api_key="sk-ant", max_retries=0
    ) as client:
        client.messages.create(
            model="claude-fake",
            max_tokens=10,
            messages=[{"role": "user", "content": "I live in Lisbon."}],
        )
        assert remembered(proxy, "carla") == ["I live in Lisbon."]
        client.messages.create(model="claude-fake", max_tokens=10, messages=ASK)
        assert "I live in Lisbon." in upstream.last("/v1/messages").anthropic_system()
        assert client.messages.count_tokens(model="claude-fake", messages=ASK).input_tokens > 0
    assert upstream.requests[-1].path == "/v1/messages/count_tokens"


@pytest.mark.parametrize("user", ["Zoë", "张伟", "a/b c", "team:42@corp"])
def test_url_encoded_utf8_ids_are_the_same_user_as_in_the_body(proxy: Proxy, user: str) -> None:
    url = f"{proxy.url}/u/{quote(user, safe='')}/v1/chat/completions"
    body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "I speak Korean."}]}
    assert httpx.post(url, json=body).headers["x-memory-status"] == "none"
    assert remembered(proxy, user) == ["I speak Korean."]
    raw = proxy.client().chat.completions.with_raw_response.create(
        model="gpt-fake", user=user, messages=[{"role": "user", "content": "Do I speak Korean?"}]
    )
    assert raw.headers["x-memory-status"] == "injected"


@pytest.mark.parametrize(
    "segment", ["%20alice", "a%0Ab", "%FF%FE", quote("x" * 257), "%E2%80%8B%0D"]
)
@pytest.mark.parametrize("route", ["chat/completions", "responses", "models"])
def test_a_bad_path_id_is_a_400_and_never_reaches_the_upstream(
    proxy: Proxy, upstream: FakeUpstream, segment: str, route: str
) -> None:
    body = {"model": "m", "messages": ASK, "input": "hi"}
    before = len(upstream.requests)
    response = httpx.post(f"{proxy.url}/u/{segment}/v1/{route}", json=body)
    if route == "models":  # pass-through: no scope is read, but the id must not reach upstream
        assert response.status_code == 200
        assert segment not in upstream.requests[-1].path
        return
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_scope_id"
    assert len(upstream.requests) == before


def test_every_route_works_under_the_user_path(proxy: Proxy, upstream: FakeUpstream) -> None:
    base = f"{proxy.url}/u/dina/v1"
    chat = httpx.post(f"{base}/chat/completions", json={"model": "m", "messages": ASK})
    responses = httpx.post(f"{base}/responses", json={"model": "m", "input": "hi"})
    messages = httpx.post(f"{base}/messages", json={"model": "m", "max_tokens": 5, "messages": ASK})
    for response in (chat, responses, messages):
        assert response.status_code == 200
        assert response.headers["x-memory-status"] == "none"  # dina has no memories yet
    models = httpx.get(f"{base}/models?limit=2")
    assert models.json()["data"][0]["id"] == "gpt-fake"
    assert (upstream.requests[-1].path, upstream.requests[-1].query) == ("/v1/models", "limit=2")
    files = httpx.delete(f"{base}/files/file-1")
    assert files.json()["path"] == "/v1/files/file-1"
    assert [r.path for r in upstream.requests[-5:]] == [
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/messages",
        "/v1/models",
        "/v1/files/file-1",
    ]
    assert httpx.get(f"{proxy.url}/u/dina/healthz").status_code == 404  # only /v1 is scoped


def test_query_user_id_is_never_forwarded(proxy: Proxy, upstream: FakeUpstream) -> None:
    query = "user_id=erik&keep=1&user_id=twice&a=%20b"
    chat = httpx.post(
        f"{proxy.url}/v1/chat/completions?{query}", json={"model": "m", "messages": ASK}
    )
    assert chat.headers["x-memory-status"] == "none"  # scoped: erik, no memories yet
    httpx.post(f"{proxy.url}/v1/responses?{query}", json={"model": "m", "input": "hi"})
    httpx.post(
        f"{proxy.url}/v1/messages?{query}", json={"model": "m", "max_tokens": 5, "messages": ASK}
    )
    httpx.get(f"{proxy.url}/v1/models?{query}")
    httpx.get(f"{proxy.url}/u/erik/v1/files?{query}")
    forwarded = upstream.requests[-5:]
    assert [r.query for r in forwarded] == ["keep=1&a=%20b"] * 5
    assert httpx.get(f"{proxy.url}/v1/models?user_id=erik").status_code == 200
    assert upstream.requests[-1].query == ""


def test_the_order_of_scope_sources(proxy: Proxy) -> None:
    """Header > base-URL path > body user > body safety_identifier > query."""
    cases = [
        ({"x-user-id": "h"}, "/u/p", {"user": "b", "safety_identifier": "s"}, "?user_id=q", "h"),
        ({}, "/u/p", {"user": "b", "safety_identifier": "s"}, "?user_id=q", "p"),
        ({}, "", {"user": "b", "safety_identifier": "s"}, "?user_id=q", "b"),
        ({}, "", {"safety_identifier": "s"}, "?user_id=q", "s"),
        ({}, "", {}, "?user_id=q", "q"),
    ]
    for index, (headers, prefix, fields, query, expected) in enumerate(cases):
        text = f"My locker number is {index + 100}."
        body = {"model": "m", "messages": [{"role": "user", "content": text}], **fields}
        response = httpx.post(
            f"{proxy.url}{prefix}/v1/chat/completions{query}", json=body, headers=headers
        )
        assert response.status_code == 200
        proxy.flush()
        assert [m["text"] for m in proxy.memories(expected)][-1:] == [text], expected


def _every_route(proxy: Proxy) -> list[httpx.Response]:
    base = f"{proxy.url}/u/fred/v1"
    chat = {"model": "m", "messages": ASK}
    anthropic_body = {"model": "m", "max_tokens": 5, "messages": ASK}
    calls = [
        ("POST", "chat/completions", chat),
        ("POST", "chat/completions", {**chat, "stream": True}),
        ("POST", "responses", {"model": "m", "input": "hi"}),
        ("POST", "responses", {"model": "m", "input": "hi", "stream": True}),
        ("POST", "messages", anthropic_body),
        ("POST", "messages", {**anthropic_body, "stream": True}),
        ("POST", "messages/count_tokens", anthropic_body),
        ("GET", "models", None),
        ("GET", "responses/resp_1", None),
        ("POST", "chat/completions", {"messages": "not a list"}),  # our own 400
        ("POST", "messages", {"messages": []}),  # our own 400, Anthropic's envelope
    ]
    return [httpx.request(method, f"{base}/{path}", json=body) for method, path, body in calls]


def test_no_response_header_comes_twice_on_any_route(proxy: Proxy) -> None:
    responses = _every_route(proxy)
    for response in responses:
        counts = Counter(name.lower() for name, _ in response.headers.raw)
        twice = {name.decode(): n for name, n in counts.items() if n > 1}
        assert twice == {}, (response.request.url, twice)
    streamed = [r for r in responses if r.headers["content-type"].startswith("text/event-stream")]
    assert len(streamed) == 3
    assert all(r.headers["cache-control"] == "no-cache" for r in streamed)


def test_a_repeated_upstream_header_stays_repeated(make_proxy: ProxyFactory) -> None:
    """Each name once does not mean merging what the upstream repeats on purpose."""

    async def two_cookies(connection: Connection) -> None:
        body = b'{"object": "list", "data": []}'
        await connection.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"set-cookie: a=1\r\nset-cookie: b=2\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body)
        )

    with RawUpstream(two_cookies) as raw:
        proxy = make_proxy(upstream_url=raw.url)
        for method, path in (("GET", "/v1/models"), ("POST", "/v1/chat/completions")):
            response = httpx.request(
                method, f"{proxy.url}{path}", json={"model": "m", "messages": ASK}
            )
            assert response.headers.get_list("set-cookie") == ["a=1", "b=2"], path
