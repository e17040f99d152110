"""Frameworks whose default is the Responses API, unmodified, through the proxy: the OpenAI
Agents SDK (a default Agent with Runner.run and Runner.run_streamed) and LangChain's
ChatOpenAI(use_responses_api=True). Each remembers a first conversation and gets the memory in
`instructions` in a second one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from agents import (
    Agent,
    Runner,
    set_default_openai_api,
    set_default_openai_client,
    set_tracing_disabled,
)
from langchain_openai import ChatOpenAI
from openai import AsyncOpenAI

from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory

RESPONSES = "/v1/responses"


@pytest.fixture
def proxy(make_proxy: ProxyFactory) -> Proxy:
    """Memory in the standing instructions (the system placement), where these tests look for
    it; the cache-aware placement's turn blocks are tested in test_responses/test_messages."""
    return make_proxy(inject={"placement": "system"})


def remembered(proxy: Proxy, user: str) -> str:
    proxy.flush()
    return " ".join(m["text"] for m in proxy.memories(user))


@pytest.fixture
def agents_client(proxy: Proxy) -> Callable[[str], AsyncOpenAI]:
    """Points the Agents SDK's default client at the proxy for one user (tracing off: nothing
    tries the network). Use it inside the one event loop the test runs in."""

    def use(user: str) -> AsyncOpenAI:
        client = AsyncOpenAI(
            base_url=f"{proxy.url}/v1",
            api_key="sk-agents-test",
            max_retries=0,
            default_headers={"X-User-Id": user},
        )
        set_default_openai_client(client, use_for_tracing=False)
        return client

    set_tracing_disabled(True)
    set_default_openai_api("responses")
    return use


def test_agents_runner_run_remembers_and_recalls(
    proxy: Proxy, upstream: FakeUpstream, agents_client: Callable[[str], AsyncOpenAI]
) -> None:
    agent = Agent(name="Assistant", instructions="You are helpful.")

    async def conversations() -> None:
        async with agents_client("ana"):
            result = await Runner.run(agent, "I am allergic to shellfish.")
            assert result.final_output == "Sure, noted."
            sent = upstream.last(RESPONSES).json["input"]
            assert sent[-1]["content"] == "I am allergic to shellfish."
            assert "allergic to shellfish" in remembered(proxy, "ana")
            await Runner.run(agent, "Can I eat shellfish paella, given my allergy?")

    asyncio.run(conversations())
    instructions = upstream.last(RESPONSES).instructions()
    assert instructions.startswith("You are helpful.\n\n<memories>")
    assert "I am allergic to shellfish." in instructions


def test_agents_runner_run_streamed_remembers_and_recalls(
    proxy: Proxy, upstream: FakeUpstream, agents_client: Callable[[str], AsyncOpenAI]
) -> None:
    upstream.reply = lambda body: "Noted, you ride a red motorbike."
    agent = Agent(name="Assistant", instructions="You are helpful.")

    async def streamed(text: str) -> tuple[str, list[str]]:
        result = Runner.run_streamed(agent, text)
        kinds = [event.type async for event in result.stream_events()]
        return str(result.final_output), kinds

    async def conversations() -> None:
        async with agents_client("ben"):
            output, kinds = await streamed("I ride a red motorbike to work.")
            assert output == "Noted, you ride a red motorbike."
            assert "raw_response_event" in kinds
            assert upstream.last(RESPONSES).json["stream"] is True
            assert "red motorbike" in remembered(proxy, "ben")
            await streamed("What colour is my motorbike, red?")

    asyncio.run(conversations())
    assert "I ride a red motorbike to work." in upstream.last(RESPONSES).instructions()


@pytest.mark.parametrize("streaming", [False, True])
def test_langchain_chat_openai_on_the_responses_api(
    proxy: Proxy, upstream: FakeUpstream, streaming: bool
) -> None:
    user = f"cleo-{streaming}"
    llm = ChatOpenAI(
        model="gpt-fake",
        base_url=f"{proxy.url}/v1",
        api_key="sk-langchain-test",
        use_responses_api=True,
        streaming=streaming,
        max_retries=0,
        default_headers={"X-User-Id": user},
    )
    answer = llm.invoke("I am learning to play the harp.")
    assert answer.text == "Sure, noted."
    assert upstream.last(RESPONSES).json.get("stream", False) is streaming
    assert "harp" in remembered(proxy, user)

    llm.invoke([("system", "Answer briefly."), ("human", "Which instrument, the harp?")])
    sent = upstream.last(RESPONSES).json
    assert "I am learning to play the harp." in (sent.get("instructions") or "")
    assert sent["input"][0]["role"] == "system"  # LangChain's own system message is untouched
