"""Pass-through paths stay under the upstream's base path (issue 14, item 4).

`POST /v1/../internal/admin/delete-everything` once reached the upstream at
`/internal/admin/delete-everything`, with the operator's key attached. These requests are written
on raw sockets and with `http.client`, which send the path exactly as given (httpx and the SDKs
would normalise it first)."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from proxy.core.errors import InvalidRequest
from proxy.core.forward_path import upstream_path
from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory

ESCAPES = [
    "/v1/../internal/admin/delete-everything",
    "/v1/%2e%2e/internal/admin/delete-everything",
    "/v1/%2E%2e/internal/admin/delete-everything",
    "/v1/.%2e/internal/admin/delete-everything",
    "/v1/..%2finternal/admin/delete-everything",
    "/v1/..%2Finternal/admin/delete-everything",
    "/v1/files/../../internal/admin",
    "/v1/files/%2e%2e/%2e%2e/internal/admin",
    "/v1/files%2f..%2f..%2finternal",
    "/v1/..\\internal",
    "/v1/%5c..%5cinternal",
    "/v1/./../internal",
]


@pytest.mark.parametrize("raw", ESCAPES)
def test_a_path_that_leaves_the_base_is_refused(raw: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        upstream_path(raw)
    assert caught.value.code == "invalid_path"


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ("/v1/models", "models"),
        ("/v1/files/file-1/content", "files/file-1/content"),
        ("/v1/files/a/../file-2", "files/file-2"),
        ("/v1/./models", "models"),
        ("/v1/files/%2e%2e/models", "models"),
        ("/v1/files/.", "files/"),
        ("/v1/files/x/..", "files/"),
        ("/v1/files/a%20b", "files/a%20b"),  # the rest of the encoding is kept as sent
        ("/v1/files/%252e%252e", "files/%252e%252e"),  # "%2e%2e" upstream: a name, not ".."
        ("/v1/", ""),
    ],
)
def test_paths_inside_the_base_are_resolved_and_kept_as_sent(raw: str, sent: str) -> None:
    assert upstream_path(raw) == sent


def raw_request(proxy: Proxy, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request written byte by byte: the path reaches the server exactly as given."""
    head = (
        f"{method} {target} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((proxy.server.host, proxy.server.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    return status, reply.partition(b"\r\n\r\n")[2]


def test_escapes_on_the_wire_are_400_and_never_reach_the_upstream(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(upstream_api_key="sk-operator-key")
    for target in ESCAPES:
        status, body = raw_request(proxy, "POST", target, b"{}")
        assert status == 400, target
        assert json.loads(body)["error"]["code"] == "invalid_path"
    connection = http.client.HTTPConnection(proxy.server.host, proxy.server.port, timeout=10)
    for target in ESCAPES[:6]:
        connection.request("DELETE", target)  # http.client sends the path as given
        response = connection.getresponse()
        assert response.status == 400, target
        response.read()
    connection.close()
    assert upstream.requests == []  # nothing reached the upstream, key or not


def get(proxy: Proxy, target: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(proxy.server.host, proxy.server.port, timeout=10)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_dot_segments_inside_the_base_are_resolved_before_forwarding(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    status, body = get(proxy, "/v1/files/x/../../models")
    assert status == 200 and json.loads(body)["data"][0]["id"] == "gpt-fake"
    status, _ = get(proxy, "/v1/files/%252e%252e?purpose=a%2e")
    assert status == 200
    assert [(r.path, r.query) for r in upstream.requests] == [
        ("/v1/models", ""),
        ("/v1/files/%2e%2e", "purpose=a%2e"),  # the upstream decodes once: a plain name
    ]


def test_an_upstream_with_a_deeper_base_path_is_never_left(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(upstream_url=f"{upstream.url}/v1/tenant")  # type: ignore[attr-defined]
    status, _ = raw_request(proxy, "GET", "/v1/models/../../x")
    assert status == 400
    status, _ = get(proxy, "/v1/a/../models")
    assert status == 200
    assert [r.path for r in upstream.requests] == ["/v1/tenant/models"]
