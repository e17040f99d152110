"""Bad input at scale: the proxy's own routes fuzzed from its OpenAPI schema (schemathesis),
chat bodies fuzzed (hypothesis) and hand-made malformed ones. Never a 5xx, never a crash.

The schema is read from the running proxy, so routes added later are fuzzed too."""

from __future__ import annotations

import contextlib
import json
import socket
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from proxy.app import create_app
from proxy.memory.embed.minilm import MiniLMEmbedder
from proxy.settings import Settings
from testbed.fake_upstream import FakeUpstream
from testbed.servers import ServerThread
from tests.conftest import Proxy, ProxyFactory

EXAMPLES_PER_OPERATION = 6  # per generation mode; ~170 cases over today's 14 operations
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,  # nothing written to the checkout
    derandomize=True,  # the same cases on every run: a failure reproduces
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
CHAT = "/v1/chat/completions"
SEEDED_USER = "fuzz-user"


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    """One JSON document a line (the memory import format)."""
    if isinstance(value, str | bytes):
        return value.encode() if isinstance(value, str) else value
    items = value if isinstance(value, list) else [value]
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder
) -> Iterator[tuple[Proxy, FakeUpstream]]:
    """One proxy for the whole module, with a user that has memories (so chats inject)."""
    fake = FakeUpstream()
    with ServerThread(fake.app) as upstream_server:
        settings_ = Settings(
            upstream_url=f"{upstream_server.url}/v1",
            data_dir=tmp_path_factory.mktemp("fuzz"),
            max_body_bytes=8 * 1024 * 1024,
        )
        with ServerThread(create_app(settings_, embedder=embedder)) as server:
            proxy = Proxy(server, settings_)
            proxy.tell(SEEDED_USER, "I keep a kite named Pomaro in the attic. I like tea.")
            yield proxy, fake
            proxy.http.close()


def assert_alive(proxy: Proxy) -> None:
    """Still serving, and still answering chats with memory."""
    assert proxy.http.get("/healthz").json()["status"] == "ok"
    raw = proxy.client(SEEDED_USER).chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "What is my kite named, Pomaro?"}]
    )
    assert raw.headers["x-memory-status"] == "injected"


def fuzz_operation(
    operation: Any, mode: GenerationMode, base_url: str, statuses: Counter[int], errors: list[str]
) -> None:
    """Call one operation with generated cases; record every status, and any 5xx."""

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        response = case.call(base_url=base_url, timeout=30)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            errors.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:200]}"
            )

    try:
        call()
    except Unsatisfiable:
        # Nothing in the operation can be made invalid (GET /healthz takes no input).
        assert mode is GenerationMode.NEGATIVE, operation.label


def test_every_route_of_the_schema_survives_schemathesis(
    fuzzed: tuple[Proxy, FakeUpstream], figures: dict[str, dict[str, Any]]
) -> None:
    proxy, _ = fuzzed
    schema = schemathesis.openapi.from_url(f"{proxy.url}/openapi.json")
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(result.ok(), mode, proxy.url, statuses, server_errors)
    cases = sum(statuses.values())
    figures["schemathesis"] = {
        "operations": operations,
        "cases": cases,
        "5xx": sum(n for status, n in statuses.items() if status >= 500),
    }
    assert operations >= 10  # the schema really was read
    assert cases >= operations * 2
    assert server_errors == []
    assert len(statuses) > 2  # not just one kind of refusal: real work was done too
    assert_alive(proxy)


# --- chat bodies ----------------------------------------------------------------------------

JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
CONTENT_PART = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "input_audio", "refusal", "x"])},
    optional={"text": JSON_VALUE, "image_url": JSON_VALUE},
)
MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "x"])
        | JSON_LEAF,
        "content": st.text(max_size=200) | st.lists(CONTENT_PART, max_size=3) | JSON_VALUE,
        "tool_calls": JSON_VALUE,
        "name": JSON_VALUE,
    },
)
ANY_BODY = st.fixed_dictionaries(
    {},
    optional={
        "model": st.text(max_size=20) | JSON_LEAF,
        "messages": st.lists(MESSAGE, max_size=5) | JSON_VALUE,
        "stream": st.booleans() | JSON_LEAF,
        "user": st.text(max_size=300) | JSON_LEAF,
        "stream_options": JSON_VALUE,
    },
)
# Valid in shape, odd in content: these reach retrieval, injection, the upstream and the outbox.
VALID_SHAPE = st.fixed_dictionaries(
    {
        "model": st.just("m"),
        "messages": st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["system", "user", "assistant"]),
                    "content": st.text(max_size=300),
                }
            ),
            min_size=1,
            max_size=4,
        ),
    },
    optional={"stream": st.booleans(), "temperature": JSON_LEAF, "metadata": JSON_VALUE},
)
CHAT_BODY = VALID_SHAPE | ANY_BODY
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        # bytes: httpx would refuse to send non-ASCII text (the proxy must still cope with it)
        "x-user-id": st.sampled_from([SEEDED_USER, "", "a" * 300, "ünï".encode(), "u\tv", "a b"]),
        "x-memory-mode": st.sampled_from(["on", "off", "read-only", "write-only", "x", ""]),
        "x-memory-time": st.sampled_from(["2024-01-01T00:00:00Z", "yesterday", "9999-99-99"]),
        "x-session-id": st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126)),
    },
)


def test_fuzzed_chat_bodies_never_get_a_5xx(
    fuzzed: tuple[Proxy, FakeUpstream], figures: dict[str, dict[str, Any]]
) -> None:
    proxy, _ = fuzzed
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=120,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=CHAT_BODY, headers=HEADERS)
    def call(body: dict[str, Any], headers: dict[str, Any]) -> None:
        response = proxy.http.post(CHAT, json=body, headers=headers)
        statuses[response.status_code] += 1
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}

    call()
    figures["chat bodies (hypothesis)"] = {
        "cases": sum(statuses.values()),
        "5xx": sum(n for s, n in statuses.items() if s >= 500),
    }
    assert statuses[200] > 0 and sum(n for s, n in statuses.items() if s == 400) > 0
    assert_alive(proxy)


def _nested(depth: int) -> bytes:
    return (
        b'{"model":"m","messages":[{"role":"user","content":"x","extra":'
        + (b"[" * depth + b"]" * depth)
        + b"}]}"
    )


def _message(content: str) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": content}]}).encode()


MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "null": b"null",
    "a string": b'"hello"',
    "a number": b"42",
    "truncated": b'{"model": "m", "messages": [{"role": "us',
    "trailing garbage": _message("hi") + b"}}}",
    "messages is an object": b'{"model":"m","messages":{"role":"user","content":"x"}}',
    "messages is null": b'{"model":"m","messages":null}',
    "role is a number": b'{"model":"m","messages":[{"role":7,"content":"x"}]}',
    "content is a number": b'{"model":"m","messages":[{"role":"user","content":7}]}',
    "content is an object": b'{"model":"m","messages":[{"role":"user","content":{"a":1}}]}',
    "content parts of wrong types": (
        b'{"model":"m","messages":[{"role":"user","content":[1,null,{"type":"text","text":5}]}]}'
    ),
    "model is a list": b'{"model":[1],"messages":[{"role":"user","content":"x"}]}',
    "user is an object": b'{"model":"m","user":{},"messages":[{"role":"user","content":"x"}]}',
    "stream is a string": b'{"model":"m","stream":"yes",'
    b'"messages":[{"role":"user","content":"x"}]}',
    "duplicate keys": b'{"model":"m","messages":[],"messages":[{"role":"user","content":"x"}]}',
    "NaN and Infinity": b'{"model":"m","temperature":NaN,"top_p":Infinity,'
    b'"messages":[{"role":"user","content":"x"}]}',
    "a huge number": b'{"model":"m","n":1e999999,"messages":[{"role":"user","content":"x"}]}',
    "a long integer": b'{"model":"m","seed":' + b"9" * 5000 + b","
    b'"messages":[{"role":"user","content":"x"}]}',
    "deep nesting (100k)": _nested(100_000),
    "deep nesting (900)": _nested(900),
    "deep nesting in content": b'{"model":"m","messages":[{"role":"user","content":'
    + b"[" * 50_000
    + b"]" * 50_000
    + b"}]}",
    "invalid UTF-8 in a string": b'{"model":"m",'
    b'"messages":[{"role":"user","content":"\xff\xfe\xc3"}]}',
    "UTF-8 BOM": b"\xef\xbb\xbf" + _message("I like tea."),
    "UTF-16": _message("I like tea.").decode().encode("utf-16"),
    "a lone surrogate": b'{"model":"m","messages":[{"role":"user","content":'
    b'"My kite is named Pomaro \\ud800 and I like tea."}]}',
    "a lone surrogate beside a memory that is injected": b'{"model":"m","messages":['
    b'{"role":"system","content":"Be brief \\udc80."},'
    b'{"role":"user","content":"What is my kite named, Pomaro?"}]}',
    "deep nesting beside a memory that is injected": b'{"model":"m","extra":'
    + b"[" * 900
    + b"]" * 900
    + b',"messages":[{"role":"user","content":"What is my kite named, Pomaro?"}]}',
    "NUL and control characters": _message("I like tea.\x00\x01\x1b[31m and Pomaro"),
    "a huge string (5 MB)": _message("I like tea. " * 400_000),
    "a huge key": b'{"' + b"k" * 1_000_000 + b'":1,"model":"m",'
    b'"messages":[{"role":"user","content":"x"}]}',
    "10k messages": json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": f"m{i}"} for i in range(10_000)]}
    ).encode(),
    "tool_calls of the wrong shape": b'{"model":"m","messages":[{"role":"assistant",'
    b'"tool_calls":"x"},{"role":"tool","content":null},{"role":"user","content":"x"}]}',
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_chat_body_is_never_a_5xx(
    fuzzed: tuple[Proxy, FakeUpstream], name: str
) -> None:
    proxy, _ = fuzzed
    for headers in ({}, {"x-user-id": SEEDED_USER}):  # with memory on, too
        response = proxy.http.post(
            CHAT, content=MALFORMED[name], headers={"content-type": "application/json", **headers}
        )
        assert response.status_code < 500, response.text[:500]
        if response.status_code != 200:
            assert response.status_code in (400, 413), response.text[:500]
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_a_lone_surrogate_is_forwarded_escaped_when_memories_are_injected(
    fuzzed: tuple[Proxy, FakeUpstream],
) -> None:
    proxy, fake = fuzzed
    response = proxy.http.post(
        CHAT,
        content=MALFORMED["a lone surrogate beside a memory that is injected"],
        headers={"content-type": "application/json", "x-user-id": SEEDED_USER},
    )
    assert response.status_code == 200
    assert response.headers["x-memory-status"] == "injected"
    forwarded = fake.last_chat()
    assert b"Be brief \\udc80." in forwarded.body  # as the client wrote it
    assert "Pomaro" in forwarded.memory_text()


def test_malformed_bodies_left_the_proxy_serving(
    fuzzed: tuple[Proxy, FakeUpstream], figures: dict[str, dict[str, Any]]
) -> None:
    proxy, _ = fuzzed
    figures["hand-made malformed chat bodies"] = {"cases": 2 * len(MALFORMED)}
    assert_alive(proxy)


# --- body size limit ------------------------------------------------------------------------

FIFTY_MB = 50 * 1024 * 1024


def _raw_post(proxy: Proxy, head: bytes, body: bytes) -> bytes:
    """Send by hand and read the answer; the proxy may answer before the body is all sent."""
    with socket.create_connection((proxy.server.host, proxy.server.port), timeout=30) as sock:
        sock.sendall(head)
        # The proxy may answer and close early: the answer is then in our receive buffer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(body)
        reply = b""
        try:
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except ConnectionResetError:
            pass
    return reply


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_50_mb_body_over_the_limit_is_a_413(
    make_proxy: ProxyFactory, upstream: FakeUpstream, framing: str
) -> None:
    proxy = make_proxy(max_body_bytes=1024 * 1024)
    body = _message("x" * FIFTY_MB)
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    if framing == "content-length":
        head += b"content-length: %d\r\n\r\n" % len(body)
        payload = body
    else:
        head += b"transfer-encoding: chunked\r\n\r\n"
        step = 1024 * 1024
        payload = (
            b"".join(
                b"%x\r\n%s\r\n" % (len(body[i : i + step]), body[i : i + step])
                for i in range(0, len(body), step)
            )
            + b"0\r\n\r\n"
        )
    reply = _raw_post(proxy, head, payload)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
    assert b'"code":"request_too_large"' in reply
    assert upstream.chat_requests() == []
    assert proxy.http.get("/healthz").status_code == 200


def test_a_50_mb_body_under_the_limit_goes_through(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy()  # the default limit is 64 MiB
    content = "I keep a kite named Pomaro in the attic. " + "x" * FIFTY_MB
    response = proxy.http.post(
        CHAT,
        json={"model": "m", "messages": [{"role": "user", "content": content}]},
        headers={"x-user-id": "big"},
        timeout=120,
    )
    assert response.status_code == 200, response.text[:300]
    assert len(upstream.last_chat().body) > FIFTY_MB  # forwarded whole
    proxy.flush()  # the turn kept its head and tail only: stored in well under a second
    assert proxy.http.get("/healthz").json()["memory"]["writes"]["clipped"] == 1
    assert "I keep a kite named Pomaro in the attic." in [m["text"] for m in proxy.memories("big")]


def test_a_turn_with_a_lone_surrogate_is_still_remembered(proxy: Proxy) -> None:
    # Valid JSON, invalid Unicode: SQLite refuses to store it as it is.
    body = (
        b'{"model":"m","messages":[{"role":"user",'
        b'"content":"I like tea \\ud800. I keep a kite named Pomaro in the attic."}]}'
    )
    response = proxy.http.post(
        CHAT, content=body, headers={"content-type": "application/json", "x-user-id": "odd"}
    )
    assert response.status_code == 200
    proxy.flush()
    assert "I keep a kite named Pomaro in the attic." in [m["text"] for m in proxy.memories("odd")]
