"""The low items of issue 14: read timeouts and a header size limit on `memory-proxy serve`, a cap
on request bytes held at once, keep-alive after a 500, /healthz with the store's folder gone,
ids in Unicode NFC, and an upstream's error text never taken for an answer."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testbed.fake_upstream import FakeUpstream, Scripted
from testbed.processes import ProxyProcess
from tests.conftest import Proxy, ProxyFactory, wait_until
from tests.test_errors import assert_envelope

CHAT = {"model": "gpt-fake", "messages": [{"role": "user", "content": "I keep bees."}]}


# --- slow or oversized requests on the served proxy ----------------------------------------


@pytest.fixture
def served(upstream: FakeUpstream, tmp_path: Path) -> Iterator[ProxyProcess]:
    env = {"MEMORY_PROXY_HEADER_TIMEOUT_S": "1", "MEMORY_PROXY_BODY_TIMEOUT_S": "1"}
    proxy = ProxyProcess(
        f"{upstream.url}/v1",  # type: ignore[attr-defined]
        tmp_path / "data",
        tmp_path / "proxy.log",
        env=env,
    ).wait_ready()
    try:
        yield proxy
    finally:
        proxy.close()


def read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; how long that took."""
    started = time.monotonic()
    sock.settimeout(limit_s)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        raise AssertionError(f"still open after {limit_s} s; got {received!r}") from None
    return received, time.monotonic() - started


def test_a_connection_that_never_finishes_its_headers_is_closed(served: ProxyProcess) -> None:
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-user-id: slo")
        reply, took = read_until_closed(sock, 10)
    assert reply.startswith(b"HTTP/1.1 408") and took < 8
    with socket.create_connection(("127.0.0.1", served.port)) as idle:  # not a byte sent
        _, took = read_until_closed(idle, 10)
    assert took < 8


def test_a_body_that_stops_half_way_is_cut_off(served: ProxyProcess) -> None:
    body = json.dumps(CHAT).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(head + body[:10])
        _, took = read_until_closed(sock, 10)
    assert took < 8
    assert served.http.post("/v1/chat/completions", json=CHAT).status_code == 200  # still serves


def test_oversized_headers_are_refused(served: ProxyProcess) -> None:
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 100_000 + b"\r\n\r\n")
        reply, _ = read_until_closed(sock, 10)
    assert reply.startswith(b"HTTP/1.1 431")


def test_a_steady_client_keeps_its_connection(served: ProxyProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    for _ in range(3):  # well past the 1 s header timeout in all, each request prompt
        connection.request("GET", "/healthz")
        assert connection.getresponse().read()
    connection.close()


# --- a cap on request bytes held at once ----------------------------------------------------


def test_concurrent_large_bodies_are_bounded(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(max_body_bytes=1 << 20, max_bytes_in_flight=(1 << 20) + (1 << 19))
    big = {**CHAT, "padding": "x" * 900_000}  # ~0.9 MB: one fits, two do not
    upstream.delay = lambda body: 3.0 if "padding" in body else 0.0
    first: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: first.append(
            httpx.post(f"{proxy.url}/v1/chat/completions", json=big, timeout=30)
        )
    )
    slow.start()
    wait_until(lambda: len(upstream.chat_requests()) == 1)  # the first holds its bytes now
    refused = httpx.post(f"{proxy.url}/v1/chat/completions", json=big, timeout=30)
    error = assert_envelope(refused, 503, "server_busy")
    assert refused.headers["retry-after"] == "1" and "retry" in error["message"]

    def chunks() -> Iterator[bytes]:  # no declared length: counted as it arrives
        payload = json.dumps(big).encode()
        for start in range(0, len(payload), 65536):
            yield payload[start : start + 65536]

    chunked = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        content=chunks(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert_envelope(chunked, 503, "server_busy")
    assert httpx.post(f"{proxy.url}/v1/chat/completions", json=CHAT).status_code == 200  # small
    slow.join(30)
    assert first[0].status_code == 200
    upstream.delay = lambda body: 0.0
    after = httpx.post(f"{proxy.url}/v1/chat/completions", json=big, timeout=30)
    assert after.status_code == 200  # the bytes were given back


# --- an unexpected error keeps the connection ----------------------------------------------


def test_a_500_keeps_the_connection_open(proxy: Proxy) -> None:
    created = proxy.http.post("/memories", json={"user_id": "kai", "text": "I keep bees."})
    memory_id = created.json()["added"][0]["id"]
    # A damaged history database: a failure the proxy does not expect.
    damage = sqlite3.connect(proxy.settings.data_dir / "history.sqlite3")
    damage.execute("DROP TABLE events")
    damage.commit()
    damage.close()
    connection = http.client.HTTPConnection(proxy.server.host, proxy.server.port, timeout=10)
    connection.request("GET", f"/memories/{memory_id}/history")
    response = connection.getresponse()
    assert response.status == 500
    assert json.loads(response.read())["error"]["code"] == "internal_error"
    connection.request("GET", "/healthz")  # the same connection
    assert connection.getresponse().status == 200
    connection.close()


# --- /healthz sees a store whose folder is gone ---------------------------------------------


def test_healthz_reports_a_store_folder_that_was_removed(proxy: Proxy) -> None:
    proxy.tell("lea", "I keep bees.")
    chroma = proxy.settings.data_dir / "chroma"
    moved = chroma.with_name("chroma-away")
    shutil.move(chroma, moved)
    try:
        health = proxy.http.get("/healthz").json()
        assert health["status"] == "degraded"
        assert health["memory"]["status"] == "store_unavailable"
    finally:
        shutil.move(moved, chroma)
    wait_until(lambda: proxy.http.get("/healthz").json()["status"] == "ok")


# --- ids in NFC ------------------------------------------------------------------------------


def test_the_same_name_in_nfc_and_nfd_is_one_user(proxy: Proxy) -> None:
    nfc, nfd = unicodedata.normalize("NFC", "Zoë"), unicodedata.normalize("NFD", "Zoë")
    assert nfc != nfd
    said = {
        "model": "gpt-fake",
        "user": nfd,
        "messages": [{"role": "user", "content": "I keep bees on my roof."}],
    }
    assert proxy.http.post("/v1/chat/completions", json=said).status_code == 200
    proxy.flush()
    assert [m["text"] for m in proxy.memories(nfc)] == ["I keep bees on my roof."]
    listed = proxy.http.get("/memories", params={"user_id": nfd}).json()["data"]
    assert listed and listed[0]["user_id"] == nfc


# --- an upstream's refusal is not an answer ------------------------------------------------


def test_the_error_text_of_a_refused_call_is_not_taken_for_an_answer(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    """With an extraction model (the fake upstream itself, through litellm), the answer shown to
    it is empty when the upstream refused: the user's words are kept, the refusal is not."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    proxy = make_proxy(
        extraction={
            "model": "openai/extractor",
            "api_base": f"{upstream.url}/v1",  # type: ignore[attr-defined]
            "api_key": "sk-test",
        }
    )
    refusal = {"error": {"message": "Rate limit reached for requests", "type": "requests"}}
    upstream.script(Scripted(status=429, body=refusal))
    refused = proxy.client("moe").with_options(max_retries=0).chat.completions.with_raw_response
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises its RateLimitError
        refused.create(**CHAT)
    proxy.flush()
    prompts = [r.body.decode() for r in upstream.chat_requests() if b"long-term memory" in r.body]
    assert prompts, "the extraction model was never asked"
    assert "I keep bees." in prompts[0] and "Rate limit" not in prompts[0]
