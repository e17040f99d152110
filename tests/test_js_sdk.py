"""The official JavaScript SDK through the proxy: JSON, streams, error envelopes, cut streams."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Proxy

JS_DIR = Path(__file__).parent / "js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (JS_DIR / "node_modules" / "openai").is_dir(),
    reason="needs node and `npm ci --prefix tests/js` (.ci/run does both)",
)


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
