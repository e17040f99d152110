"""JavaScript through the proxy: the official openai SDK (JSON, streams, error envelopes, cut
streams), and the Vercel AI SDK's default provider (the Responses API) with generateText and
streamText, configured by OPENAI_BASE_URL alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory

JS_DIR = Path(__file__).parent / "js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (JS_DIR / "node_modules" / "ai").is_dir(),
    reason="needs node and `npm ci --prefix tests/js` (.ci/run does both)",
)


@pytest.fixture
def proxy(make_proxy: ProxyFactory) -> Proxy:
    """Memory in the standing instructions (the system placement), where these tests look for
    it; the cache-aware placement's turn blocks are tested in test_responses/test_messages."""
    return make_proxy(inject={"placement": "system"})


def test_the_js_sdk_works_through_the_proxy(proxy: Proxy) -> None:
    run = subprocess.run(
        ["node", str(JS_DIR / "chat.mjs"), proxy.url, "js-user"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["text"] == "Sure, noted."
    assert result["status"] in ("none", "injected")
    assert result["streamed"] == "Sure, noted."
    assert result["usage"] is True
    assert result["badRequest"] == {
        "status": 400,
        "param": "messages",
        "type": "invalid_request_error",
    }
    assert "without [DONE]" in result["cutStream"]
    proxy.flush()
    assert any("tomatoes" in m["text"] for m in proxy.memories("js-user"))


def ai_sdk(proxy: Proxy, user: str, mode: str, prompt: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"{proxy.url}/u/{user}/v1",
        "OPENAI_API_KEY": "sk-ai-sdk-test",
    }
    run = subprocess.run(
        ["node", str(JS_DIR / "ai_sdk.mjs"), mode, prompt],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("mode", ["generate", "stream"])
def test_the_vercel_ai_sdk_remembers_and_recalls(
    proxy: Proxy, upstream: FakeUpstream, mode: str
) -> None:
    user = f"vercel-{mode}"
    first = ai_sdk(proxy, user, mode, "I am training for a triathlon in Nice.")
    assert first["text"] == "Sure, noted."
    assert first["finishReason"] == "stop"
    assert first.get("errors", []) == []
    sent = upstream.last("/v1/responses").json
    assert sent.get("stream", False) is (mode == "stream")
    proxy.flush()
    assert [m["text"] for m in proxy.memories(user)] == ["I am training for a triathlon in Nice."]

    second = ai_sdk(proxy, user, mode, "Which race am I training for, the triathlon?")
    assert second["status"] == "injected"
    sent = upstream.last("/v1/responses").json
    assert "I am training for a triathlon in Nice." in sent["instructions"]
    assert sent["input"][0]["role"] in ("system", "developer")  # the app's own, untouched
