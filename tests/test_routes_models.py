"""GET /v1/models lists the routed models beside the upstream's, even when the upstream cannot."""

from __future__ import annotations

import httpx

from testbed.fake_providers import FakeAnthropic
from testbed.fake_upstream import FakeUpstream
from tests.conftest import ProxyFactory

ROUTES = [
    {"model": "claude-home", "litellm_model": "anthropic/claude-sonnet-4-5", "api_key": "k"},
    {"model": "gpt-fake", "litellm_model": "ollama/llama3.2"},  # shadows an upstream model
    {"model": "gemini-*", "litellm_model": "gemini/gemini-*", "api_key": "k"},  # not listable
]


def test_models_merges_the_routed_ones_into_the_upstreams_list(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(routes=ROUTES)
    client = proxy.client()
    listed = {model.id: model.owned_by for model in client.models.list()}
    assert listed == {"claude-home": "anthropic", "gpt-fake": "ollama"}
    assert upstream.requests[-1].path == "/v1/models"
    assert upstream.requests[-1].headers["authorization"] == "Bearer sk-test-client"
    assert client.models.retrieve("claude-home").owned_by == "anthropic"


def test_models_lists_the_routed_ones_when_the_upstream_cannot(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(routes=ROUTES, upstream_url="http://127.0.0.1:9/v1")  # nothing there
    response = httpx.get(f"{proxy.url}/v1/models")
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == ["claude-home", "gpt-fake"]


def test_models_lists_the_routed_ones_when_the_upstream_answers_an_error(
    make_proxy: ProxyFactory, anthropic: FakeAnthropic
) -> None:
    proxy = make_proxy(routes=ROUTES, upstream_url=f"{anthropic.url}/v1")  # it has no /models
    response = httpx.get(f"{proxy.url}/v1/models")
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == ["claude-home", "gpt-fake"]


def test_without_routes_models_is_the_upstreams_answer_unchanged(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy()
    direct = httpx.get(f"{upstream.url}/v1/models")  # type: ignore[attr-defined]
    through = httpx.get(f"{proxy.url}/v1/models")
    assert through.status_code == 200
    assert through.content == direct.content


def test_an_unrouted_model_is_retrieved_from_the_upstream(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(routes=ROUTES[:1])
    response = httpx.get(f"{proxy.url}/v1/models/gpt-4o", params={"x": "1"})
    assert response.status_code == 200
    assert response.json() == {
        "path": "/v1/models/gpt-4o",
        "method": "GET",
        "query": "x=1",
        "body_size": 0,
    }
