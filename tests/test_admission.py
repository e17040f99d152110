"""Cross-site writes and reads are refused; the official clients, curl and pass-through uploads
still work (issue 14, item 2). Browsers send text/plain, form or type-less POSTs with no
preflight, and a page re-pointed at 127.0.0.1 (DNS rebinding) arrives with its own Host."""

from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import pytest

from proxy.core.admission import Refusal, admit, host_name, media_type
from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory
from tests.test_errors import assert_envelope

CHAT = {"model": "gpt-fake", "messages": [{"role": "user", "content": "I live in Lisbon."}]}
LINE = {
    "id": "cross-site-1",
    "text": "I keep bees on my roof.",
    "user_id": "alice",
    "created_at": "2024-01-01T00:00:00Z",
    "occurred_at": "2024-01-01T00:00:00Z",
}
EVIL = "http://evil.example"


# --- the rules (pure) -------------------------------------------------------------------------


def _admit(method: str, path: str, **headers: str) -> Refusal | None:
    return admit(method, path, {"host": "127.0.0.1:8080", **headers}, admin_key_set=False)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        'application/json; charset="utf8"',
        "application/json ; boundary=x",
    ],
)
def test_json_in_its_usual_spellings_is_admitted(content_type: str) -> None:
    for path in ("/v1/chat/completions", "/v1/responses", "/v1/messages", "/memories"):
        assert _admit("POST", path, **{"content-type": content_type, "content-length": "2"}) is None


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "",
     "application/json; charset=latin-1", "application/jsonx", "text/json"],
)  # fmt: skip
def test_other_media_types_are_415_on_the_routes_whose_bodies_the_proxy_reads(
    content_type: str,
) -> None:
    headers = {"content-length": "10"} | ({"content-type": content_type} if content_type else {})
    for path in ("/v1/chat/completions", "/v1/messages", "/memories", "/memories/search"):
        refusal = _admit("POST", path, **headers)
        assert refusal is not None and refusal.status == 415, (path, content_type)
    # Pass-through routes forward whatever they are given.
    assert _admit("POST", "/v1/files", **headers) is None
    assert _admit("POST", "/v1/audio/transcriptions", **headers) is None


def test_import_takes_jsonl_and_a_bodyless_request_needs_no_type() -> None:
    for kind in ("application/x-ndjson", "application/jsonl", "application/json"):
        headers = {"content-type": kind, "transfer-encoding": "chunked"}
        assert _admit("POST", "/memories/import", **headers) is None
    assert _admit(
        "POST", "/memories/import", **{"content-type": "text/plain", "content-length": "9"}
    )
    assert _admit("POST", "/memories/flush") is None
    assert _admit("POST", "/memories/flush", **{"content-length": "0"}) is None
    assert _admit("DELETE", "/memories") is None


def test_origins_and_fetch_metadata_on_the_memory_routes() -> None:
    refused = _admit("GET", "/memories/export", origin=EVIL)
    assert refused is not None and refused.status == 403 and refused.code == "cross_site_request"
    assert _admit("GET", "/memories", **{"sec-fetch-site": "cross-site"}) is not None
    assert _admit("GET", "/memories", **{"sec-fetch-site": "same-site"}) is not None
    assert _admit("GET", "/memories", origin="null") is not None
    assert _admit("GET", "/memories", **{"sec-fetch-site": "none"}) is None  # typed by the user
    assert _admit("GET", "/memories", origin="http://127.0.0.1:8080") is None  # /docs
    allowed = admit(
        "GET",
        "/memories",
        {"host": "127.0.0.1:8080", "origin": "https://admin.example/"},
        admin_key_set=True,
        allowed_origins={"https://admin.example"},
    )
    assert allowed is None
    # Chat is not a memory route: a browser app may call it (its JSON needs a CORS preflight).
    assert _admit("POST", "/v1/chat/completions", origin=EVIL) is None


def test_host_names_without_an_admin_key() -> None:
    for host in ("localhost:8080", "127.0.0.1", "[::1]:80", "127.9.9.9:1", "app.localhost"):
        assert admit("GET", "/memories", {"host": host}, admin_key_set=False) is None
    refused = admit("GET", "/memories", {"host": "evil.example:8080"}, admin_key_set=False)
    assert refused is not None and refused.status == 400 and refused.code == "invalid_host"
    assert (
        admit("GET", "/memories", {"host": "Proxy.Internal"}, admin_key_set=False,
              allowed_hosts={"proxy.internal"})
        is None
    )  # fmt: skip
    assert admit("GET", "/memories", {"host": "evil.example"}, admin_key_set=True) is None
    assert host_name("[::1]:8080") == "::1" and host_name("Example.COM.:80") == "example.com"
    assert media_type("a/b; X=Y") == ("a/b", {"x": "y"})


# --- served: what the adversarial pass did, now refused ------------------------------------


def test_a_text_plain_chat_naming_a_user_is_refused_and_stores_nothing(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions?user_id=alice",
        content=json.dumps(CHAT),
        headers={"content-type": "text/plain", "origin": EVIL},
    )
    error = assert_envelope(response, 415, "unsupported_media_type")
    assert "application/json" in error["message"]
    for content_type in ("application/x-www-form-urlencoded", None):
        headers = {"content-type": content_type} if content_type else {}
        assert httpx.post(
            f"{proxy.url}/v1/chat/completions?user_id=alice", content=json.dumps(CHAT),
            headers=headers,
        ).status_code == 415  # fmt: skip
    proxy.flush()
    assert proxy.memories("alice") == []
    assert upstream.chat_requests() == []


def test_a_cross_site_import_is_refused(proxy: Proxy) -> None:
    line = json.dumps(LINE).encode()
    for headers, status in (
        ({"content-type": "text/plain"}, 415),
        ({"content-type": "application/x-www-form-urlencoded"}, 415),
        ({"content-type": "text/plain", "origin": EVIL}, 403),
        ({"content-type": "application/x-ndjson", "origin": EVIL}, 403),
        ({"content-type": "application/x-ndjson", "sec-fetch-site": "cross-site"}, 403),
    ):
        response = proxy.http.post("/memories/import", content=line, headers=headers)
        assert response.status_code == status, (headers, response.text)
    assert proxy.memories("alice") == []
    ok = proxy.http.post(
        "/memories/import", content=line, headers={"content-type": "application/x-ndjson"}
    )
    assert ok.status_code == 200 and ok.json()["added"] == 1


def test_dns_rebinding_cannot_export_without_an_admin_key(proxy: Proxy) -> None:
    proxy.http.post("/memories", json={"user_id": "bob", "text": "I keep bees on my roof."})
    rebound = proxy.http.get("/memories/export", headers={"host": "evil.example:8080"})
    error = assert_envelope(rebound, 400, "invalid_host")
    assert "bees" not in rebound.text and "evil.example" in error["message"]
    for host in ("localhost", f"127.0.0.1:{proxy.server.port}"):
        assert proxy.http.get("/memories/export", headers={"host": host}).status_code == 200
    # The proxy's own pages (/docs) are same-origin: their requests are answered.
    own = proxy.http.get("/memories/stats", headers={"origin": proxy.url})
    assert own.status_code == 200


def test_configured_origins_and_hosts_are_admitted(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(
        auth={"allowed_origins": ["https://admin.example"], "allowed_hosts": ["mp.internal"]}
    )
    ok = proxy.http.get("/memories/stats", headers={"origin": "https://admin.example"})
    assert ok.status_code == 200
    assert proxy.http.get("/memories/stats", headers={"host": "mp.internal:80"}).status_code == 200
    assert proxy.http.get("/memories/stats", headers={"origin": EVIL}).status_code == 403


def test_with_an_admin_key_the_host_is_not_checked_but_origins_still_are(
    make_proxy: ProxyFactory,
) -> None:
    proxy = make_proxy(admin_key="adm-key-123")
    admin = {"authorization": "Bearer adm-key-123"}
    remote = proxy.http.get("/memories/stats", headers={**admin, "host": "proxy.example"})
    assert remote.status_code == 200
    assert proxy.http.get("/memories/stats", headers={**admin, "origin": EVIL}).status_code == 403


def test_the_anthropic_route_refuses_in_its_own_envelope(proxy: Proxy) -> None:
    response = httpx.post(f"{proxy.url}/v1/messages", content=b"{}", headers={"x": "y"})
    assert response.status_code == 415
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"


# --- the clients that must keep working ----------------------------------------------------


def test_the_python_sdk_and_json_with_a_charset_work(proxy: Proxy, upstream: FakeUpstream) -> None:
    answer = proxy.client("carol").chat.completions.create(**CHAT)
    assert answer.choices[0].message.content
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        content=json.dumps(CHAT).encode(),
        headers={"content-type": "application/json; charset=utf-8", "x-user-id": "carol"},
    )
    assert response.status_code == 200
    assert len(upstream.chat_requests()) == 2


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")
def test_curl_works_with_the_documented_header_and_is_told_what_to_send_without_it(
    proxy: Proxy,
) -> None:
    def curl(*args: str) -> tuple[int, str]:
        run = subprocess.run(
            ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        body, _, status = run.stdout.rpartition("\n")
        return int(status), body

    url = f"{proxy.url}/v1/chat/completions"
    status, body = curl(url, "-H", "Content-Type: application/json", "-d", json.dumps(CHAT))
    assert status == 200 and json.loads(body)["choices"]
    status, body = curl(url, "-d", json.dumps(CHAT))  # curl's default: form-urlencoded
    assert status == 415 and "application/json" in json.loads(body)["error"]["message"]
    status, _ = curl(f"{proxy.url}/memories/stats")
    assert status == 200


def test_multipart_uploads_pass_through_untouched(proxy: Proxy, upstream: FakeUpstream) -> None:
    client = proxy.client("dave")
    payload = b"\x00\x01 training data \xff" * 500
    client.files.create(file=("data.jsonl", payload), purpose="fine-tune")
    client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF\x00\x01wav"))
    files, audio = upstream.requests[-2], upstream.requests[-1]
    assert files.path == "/v1/files" and audio.path == "/v1/audio/transcriptions"
    for recorded in (files, audio):
        assert recorded.headers["content-type"].startswith("multipart/form-data; boundary=")
    boundary = files.headers["content-type"].split("boundary=")[1]
    assert payload in files.body and boundary.encode() in files.body
    assert b"whisper-1" in audio.body and b"RIFF\x00\x01wav" in audio.body
