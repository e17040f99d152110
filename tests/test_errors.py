"""Bad input and broken upstreams get clear answers in OpenAI's envelope; memory fails open."""

from __future__ import annotations

import socket

import httpx
import openai
import pytest

from testbed.fake_upstream import FakeUpstream, Scripted
from tests.conftest import Proxy, ProxyFactory


def assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and "Traceback" not in error["message"]
    if code is not None:
        assert error["code"] == code
    return error


@pytest.mark.parametrize(
    ("body", "headers", "param"),
    [
        (b"{not json", {}, None),
        (b"[1, 2]", {}, None),
        (b'{"model": "m", "messages": "hi"}', {}, "messages"),
        (b'{"model": "m", "messages": []}', {}, "messages"),
        (b'{"model": "m", "messages": [42]}', {}, "messages[0]"),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}',
            {"x-user-id": "a" * 257},
            "X-User-Id",
        ),
        (b'{"model": "m", "user": 5, "messages": [{"role": "user", "content": "x"}]}', {}, "user"),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}',
            {"x-user-id": "u", "x-memory-mode": "sometimes"},
            "x-memory-mode",
        ),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}',
            {"x-user-id": "u", "x-memory-time": "last tuesday"},
            "x-memory-time",
        ),
        (b"\xff\xfe\x00garbage", {}, None),
    ],
)
def test_bad_chat_input_is_a_400_envelope(
    proxy: Proxy, upstream: FakeUpstream, body: bytes, headers: dict[str, str], param: str | None
) -> None:
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json", **headers},
    )
    error = assert_envelope(response, 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert upstream.chat_requests() == []  # nothing half-valid was forwarded


def test_a_control_character_in_a_header_id_is_refused(proxy: Proxy) -> None:
    # A no-break space passes HTTP parsing but is not a printable id character; httpx would
    # refuse to send it, so write the request by hand.
    body = b'{"model":"m","messages":[{"role":"user","content":"x"}]}'
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"x-user-id: a\xa0b\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with socket.create_connection((proxy.server.host, proxy.server.port)) as sock:
        sock.sendall(request)
        sock.settimeout(10)
        reply = b""
        while not reply.endswith(b"}}"):  # the envelope is the whole body
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400")
    assert b'"param":"X-User-Id"' in reply


def test_an_oversized_body_is_a_413(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(max_body_bytes=4096)
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 10_000}]}
    assert_envelope(httpx.post(f"{proxy.url}/v1/chat/completions", json=body), 413)


def test_an_unreachable_upstream_is_a_502(make_proxy: ProxyFactory) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proxy = make_proxy(upstream_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(openai.APIStatusError) as caught:
        proxy.client("w").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "I am a pilot."}]
        )
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_unreachable"  # type: ignore[index]
    proxy.flush()
    assert [m["text"] for m in proxy.memories("w")] == ["I am a pilot."]


def test_a_slow_upstream_is_a_504(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = make_proxy(upstream_timeout_s=0.3)
    upstream.script(Scripted(body={"ok": True}, delay=2.0))
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert_envelope(response, 504, "upstream_timeout")


def test_retrieval_over_its_time_budget_fails_open(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(retrieval={"timeout_ms": 0.001})
    proxy.tell("x1", "I live in Rome.")
    raw = proxy.client("x1").chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "Where do I live, Rome?"}]
    )
    assert raw.headers["x-memory-status"] == "error"
    assert raw.parse().choices[0].message.content == "Sure, noted."
    assert upstream.last_chat().json["messages"] == [
        {"role": "user", "content": "Where do I live, Rome?"}
    ]


def test_an_unusable_store_fails_open(make_proxy: ProxyFactory, tmp_path, upstream) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    proxy = make_proxy(data_dir=blocker)
    raw = proxy.client("y1").chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "I like tea."}]
    )
    assert raw.headers["x-memory-status"] == "error"
    assert raw.parse().choices[0].message.content == "Sure, noted."
    health = proxy.http.get("/healthz").json()
    assert health["status"] == "degraded" and health["memory"]["status"] == "error"
    assert_envelope(proxy.http.get("/memories", params={"user_id": "y1"}), 503)


def test_unknown_proxy_routes_and_bad_queries_are_envelopes(proxy: Proxy) -> None:
    assert_envelope(proxy.http.get("/nope"), 404)
    assert_envelope(proxy.http.get("/memories"), 400)
    assert_envelope(proxy.http.get("/memories", params={"user_id": ""}), 400)
