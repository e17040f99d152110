"""Fuzzed chat bodies for routed models: whatever a client sends, litellm's translation never
turns it into a 5xx (the chat bodies and headers of tests/test_fuzz.py, sent to a route)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.fake_providers import FakeAnthropic, FakeGemini, FakeOllama
from tests.conftest import ProxyFactory
from tests.test_fuzz import CHAT, CHAT_BODY, HEADERS, JSON_VALUE

# OpenAI parameters with odd values, on top of test_fuzz's bodies (half the time none).
PARAMETERS = st.just({}) | st.fixed_dictionaries(
    {},
    optional={
        name: JSON_VALUE
        for name in ("temperature", "max_tokens", "stop", "tools", "tool_choice", "response_format")
    },
)


@pytest.mark.parametrize("model", ["claude-home", "gemini-home", "llama-home"])
def test_fuzzed_bodies_to_a_route_never_get_a_5xx(
    make_proxy: ProxyFactory,
    anthropic: FakeAnthropic,
    gemini: FakeGemini,
    ollama: FakeOllama,
    figures: dict[str, dict[str, Any]],
    model: str,
) -> None:
    proxy = make_proxy(
        routes=[
            {
                "model": "claude-home",
                "litellm_model": "anthropic/claude-x",
                "api_base": anthropic.url,
                "api_key": "k",
            },
            {
                "model": "gemini-home",
                "litellm_model": "gemini/gemini-2.5-flash",
                "api_base": f"{gemini.url}/v1beta",
                "api_key": "k",
            },
            {"model": "llama-home", "litellm_model": "ollama/llama3.2", "api_base": ollama.url},
        ]
    )
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=80,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=CHAT_BODY, parameters=PARAMETERS, headers=HEADERS)
    def call(body: Any, parameters: dict[str, Any], headers: dict[str, Any]) -> None:
        sent = {**body, **parameters, "model": model} if isinstance(body, dict) else body
        response = proxy.http.post(CHAT, json=sent, headers=headers)
        statuses[response.status_code] += 1
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}

    call()
    figures[f"routed chat bodies, {model} (hypothesis)"] = {
        "cases": sum(statuses.values()),
        "answered": statuses[200],
        "5xx": sum(n for s, n in statuses.items() if s >= 500),
    }
    assert statuses[200] > 0 and statuses[400] > 0
