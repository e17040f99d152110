"""The Responses API for routed models: the official openai SDK's `responses.create` and
`responses.stream` against the proxy, litellm's `aresponses` to the Anthropic, Gemini and Ollama
fakes. OpenAI's response objects and numbered events come back, memory is placed as on the
upstream path (the profile in `instructions`, which becomes the provider's system place; the
turn's memories with the new input), the turn is written, what a route cannot serve is a 400."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.fake_providers import FakeAnthropic, FakeGemini, FakeOllama
from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory
from tests.test_fuzz import JSON_VALUE
from tests.test_routes import MODEL, PROVIDERS, SYSTEM, Fakes, last_user_text, route


@pytest.fixture
def fakes(anthropic: FakeAnthropic, gemini: FakeGemini, ollama: FakeOllama) -> Fakes:
    return {"anthropic": anthropic, "gemini": gemini, "ollama": ollama}


@pytest.fixture
def routed(make_proxy: ProxyFactory, fakes: Fakes) -> Proxy:
    return make_proxy(routes=[route(name, fake) for name, fake in fakes.items()])


def respond(proxy: Proxy, user: str, stream: bool, **request: Any) -> tuple[str, str, Any]:
    """The answer's text, the model it names, and the final response object."""
    client = proxy.client(user)
    if not stream:
        response = client.responses.create(**request)
        assert response.object == "response" and response.status == "completed"
        return response.output_text, response.model, response
    with client.responses.stream(**request) as events:
        seen = list(events)
        final = events.get_final_response()
    numbers = [event.sequence_number for event in seen]
    assert numbers == list(range(len(seen)))  # every event numbered, as OpenAI's are
    assert seen[0].type == "response.created" and seen[-1].type == "response.completed"
    return final.output_text, final.model, final


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("name", PROVIDERS)
def test_a_routed_response_reads_places_and_writes_memory(
    routed: Proxy, fakes: Fakes, name: str, stream: bool
) -> None:
    fake, model = fakes[name], MODEL[name]
    respond(routed, "rea", stream, model=model, input="I am vegetarian. I keep bees in Lisbon.")
    routed.flush()
    assert sorted(m["text"] for m in routed.memories("rea")) == [
        "I am vegetarian.",
        "I keep bees in Lisbon.",
    ]

    fake.reply = lambda body: "On your roof in Lisbon."
    text, named, final = respond(
        routed, "rea", stream, model=model, instructions="Be brief.", input="Where are my bees?"
    )
    assert (text, named) == ("On your roof in Lisbon.", model)
    assert final.store is False  # nothing of a routed response is kept to be retrieved
    sent = fake.last()
    system = SYSTEM[name](sent)
    assert system.startswith("Be brief.") and "I am vegetarian." in system
    assert "bees" not in system
    turn = last_user_text(name, sent)
    assert turn.startswith("<memories>") and turn.endswith("Where are my bees?")
    assert "I keep bees in Lisbon." in turn


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"conversation": "conv_123"}, "conversation"),
        ({"background": True}, "background"),
        ({"input": [{"type": "reasoning", "summary": []}]}, "input[0].type"),
        ({"input": [{"role": "wizard", "content": "hi"}]}, "input[0].role"),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"temperature": "warm"}, "temperature"),
    ],
)
def test_what_a_route_cannot_serve_is_a_400(
    routed: Proxy, fakes: Fakes, extra: dict[str, Any], param: str
) -> None:
    body = {"model": MODEL["anthropic"], "input": "hi", **extra}
    response = httpx.post(f"{routed.url}/v1/responses", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert not fakes["anthropic"].requests


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_providers_rate_limit_is_a_429_with_retry_after(
    routed: Proxy, fakes: Fakes, stream: bool
) -> None:
    fakes["anthropic"].fail_next(
        429,
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
        {"retry-after": "9"},
    )
    with pytest.raises(openai.RateLimitError) as raised:
        reply = routed.client("lim").responses.create(
            model=MODEL["anthropic"], input="hi", stream=stream
        )
        list(reply) if stream else None  # type: ignore[call-overload]
    assert raised.value.response.headers["retry-after"] == "9"
    assert raised.value.response.json()["error"]["message"] == "slow down"


def test_function_tools_round_trip(routed: Proxy, fakes: Fakes) -> None:
    anthropic = fakes["anthropic"]
    anthropic.tool_use = {"name": "get_weather", "input": {"city": "Lisbon"}}  # type: ignore[attr-defined]
    response = routed.client("fn").responses.create(
        model=MODEL["anthropic"],
        input="Weather in Lisbon?",
        tools=[
            {
                "type": "function",
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": False,
            }
        ],
    )
    assert anthropic.last().json["tools"][0]["name"] == "get_weather"
    call = response.output[0]
    assert call.type == "function_call"
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Lisbon"})


def test_unrouted_responses_still_go_upstream(routed: Proxy, upstream: FakeUpstream) -> None:
    routed.client().responses.create(model="gpt-fake", input="hi")
    assert upstream.requests[-1].path == "/v1/responses"


ITEM = st.fixed_dictionaries(
    {}, optional={"type": JSON_VALUE, "role": JSON_VALUE, "content": JSON_VALUE}
)
BODY = st.fixed_dictionaries(
    {"input": st.text(max_size=50) | st.lists(ITEM, max_size=3) | JSON_VALUE},
    optional={
        name: JSON_VALUE
        for name in ("instructions", "tools", "temperature", "max_output_tokens", "text")
    },
)


def test_fuzzed_responses_bodies_to_a_route_never_get_a_5xx(
    routed: Proxy, figures: dict[str, dict[str, Any]]
) -> None:
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=80,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=BODY)
    def call(body: dict[str, Any]) -> None:
        sent = {**body, "model": MODEL["anthropic"]}
        response = routed.http.post("/v1/responses", json=sent, headers={"x-user-id": "fz"})
        statuses[response.status_code] += 1
        assert response.status_code < 500, response.text

    call()
    figures["routed Responses bodies (hypothesis)"] = {
        "cases": sum(statuses.values()),
        "answered": statuses[200],
        "5xx": sum(n for s, n in statuses.items() if s >= 500),
    }
    assert statuses[200] > 0 and statuses[400] > 0
