"""`auth.user_keys` binds users to API keys (issue 14, low item): without it the proxy believes
whatever user a call names (README), so an app that lets its users reach the proxy directly can
say which key may act as which users."""

from __future__ import annotations

import httpx
import openai
import pytest

from proxy.core.errors import Forbidden, Unauthorized
from proxy.http.auth import check_user_key
from proxy.settings import UserKey
from testbed.fake_upstream import FakeUpstream
from tests.conftest import ProxyFactory
from tests.test_errors import assert_envelope

KEYS = [
    UserKey(key="sk-alice-app", users=["alice", "team-*"]),  # type: ignore[arg-type]
    UserKey(key="sk-bob-app", users=["bob"]),  # type: ignore[arg-type]
]
CHAT = {"model": "gpt-fake", "messages": [{"role": "user", "content": "I keep bees."}]}


def test_the_rule() -> None:
    check_user_key([], {}, "anyone")  # not configured: anyone goes
    check_user_key(KEYS, {"authorization": "Bearer sk-alice-app"}, "alice")
    check_user_key(KEYS, {"authorization": "bearer sk-alice-app"}, "team-blue")
    check_user_key(KEYS, {"x-api-key": "sk-bob-app"}, "bob")  # Anthropic's header
    with pytest.raises(Forbidden):
        check_user_key(KEYS, {"authorization": "Bearer sk-alice-app"}, "bob")
    with pytest.raises(Forbidden):
        check_user_key(KEYS, {"authorization": "Bearer sk-alice-app"}, "team")  # not a prefix match
    with pytest.raises(Unauthorized):
        check_user_key(KEYS, {"authorization": "Bearer sk-unknown"}, "alice")
    with pytest.raises(Unauthorized):
        check_user_key(KEYS, {}, "alice")


def test_a_key_acts_only_as_its_users(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = make_proxy(auth={"user_keys": [{"key": "sk-alice-app", "users": ["alice", "team-*"]}]})

    def client(key: str, user: str) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{proxy.url}/v1",
            api_key=key,
            max_retries=0,
            default_headers={"X-User-Id": user},
        )

    assert client("sk-alice-app", "alice").chat.completions.create(**CHAT).choices
    assert client("sk-alice-app", "team-red").chat.completions.create(**CHAT).choices
    with pytest.raises(openai.PermissionDeniedError):
        client("sk-alice-app", "bob").chat.completions.create(**CHAT)
    with pytest.raises(openai.AuthenticationError):
        client("sk-someone-else", "alice").chat.completions.create(**CHAT)
    # A user in the body or the query is bound the same way; no user at all: memory off.
    body = {**CHAT, "user": "bob"}
    refused = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        json=body,
        headers={"authorization": "Bearer sk-alice-app"},
    )
    assert_envelope(refused, 403, "user_not_allowed_for_key")
    anonymous = httpx.post(f"{proxy.url}/v1/chat/completions", json=CHAT)
    assert anonymous.status_code == 200 and anonymous.headers["x-memory-status"] == "no-user"
    assert len(upstream.chat_requests()) == 3  # the refused calls never reached the upstream
    proxy.flush()
    assert proxy.memories("bob") == []
