"""MCP over both transports, driven by the official `mcp` SDK's client against real servers:
streamable HTTP at /mcp on a proxy under uvicorn, and `memory-proxy mcp` as a stdio child
process (talking to that proxy's /memories API, or owning a data dir itself)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory

TOOLS = {
    "add_memory",
    "search_memories",
    "list_memories",
    "get_profile",
    "update_memory",
    "delete_memory",
}


@asynccontextmanager
async def http_session(url: str, **headers: str) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as client,
        streamable_http_client(f"{url}/mcp", http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def stdio_session(
    *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    script = Path(sys.executable).with_name("memory-proxy")
    params = StdioServerParameters(command=str(script), args=["mcp", *args], env=env)
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> CallToolResult:
    result = await session.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    return result


def data(result: CallToolResult) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)  # type: ignore[union-attr]


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result
    return " ".join(getattr(part, "text", "") for part in result.content)


def run(coroutine: Any) -> Any:
    return anyio.run(lambda: coroutine)


def test_http_tools_write_what_the_next_chat_injects(proxy: Proxy, upstream: FakeUpstream) -> None:
    async def scenario() -> None:
        async with http_session(proxy.url, **{"X-User-Id": "ada"}) as session:
            tools = {tool.name for tool in (await session.list_tools()).tools}
            assert tools == TOOLS
            added = data(
                await call(session, "add_memory", text="I am vegetarian.", kind="constraint")
            )
            assert [m["text"] for m in added["added"]] == ["I am vegetarian."]
            found = data(await call(session, "search_memories", query="vegetarian food"))
            assert [m["text"] for m in found["data"]] == ["I am vegetarian."]
            profile = data(await call(session, "get_profile"))
            assert profile["object"] == "memory.profile" and profile["user_id"] == "ada"
            assert [m["kind"] for m in profile["data"]] == ["constraint"]

    run(scenario())
    proxy.client("ada").chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "What vegetarian food is good?"}]
    )
    assert "I am vegetarian." in upstream.last_chat().system_text()


def test_http_user_cannot_read_or_change_another_users_memory(proxy: Proxy) -> None:
    proxy.tell("bob", "My dog is called Rex.")
    [bobs] = proxy.memories("bob")

    async def scenario() -> None:
        async with http_session(proxy.url, **{"X-User-Id": "eve"}) as session:
            assert data(await call(session, "search_memories", query="dog Rex"))["data"] == []
            assert data(await call(session, "list_memories"))["data"] == []
            # An id of someone else's memory answers as one that does not exist.
            for tool, args in [
                ("update_memory", {"memory_id": bobs["id"], "text": "My dog is called Max."}),
                ("delete_memory", {"memory_id": bobs["id"]}),
            ]:
                assert f"no memory with id {bobs['id']!r}" in error_text(
                    await call(session, tool, **args)
                )
            missing = error_text(await call(session, "delete_memory", memory_id="no-such-id"))
            assert missing.endswith("no memory with id 'no-such-id'")

    run(scenario())
    assert [m["text"] for m in proxy.memories("bob")] == ["My dog is called Rex."]


def test_http_session_is_bound_to_the_user_that_opened_it(proxy: Proxy) -> None:
    """A request of ada's MCP session that names another user is refused as an unknown session."""
    opened = httpx.post(
        f"{proxy.url}/mcp",
        headers={"X-User-Id": "ada", "Accept": "application/json, text/event-stream"},
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
    )
    assert opened.status_code == 200, opened.text
    session_id = opened.headers["mcp-session-id"]
    hijack = httpx.post(
        f"{proxy.url}/mcp",
        headers={
            "X-User-Id": "mallory",
            "Mcp-Session-Id": session_id,
            "Mcp-Protocol-Version": "2025-06-18",
            "Accept": "application/json, text/event-stream",
        },
        json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    )
    assert hijack.status_code == 404
    assert hijack.json()["error"]["message"] == "Session not found"


def test_http_refuses_secrets_bad_input_and_a_missing_user(proxy: Proxy) -> None:
    async def scenario() -> None:
        async with http_session(proxy.url, **{"X-User-Id": "ada"}) as session:
            secret = "my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"
            assert "secrets are never stored" in error_text(
                await call(session, "add_memory", text=secret)
            )
            assert "blank" in error_text(await call(session, "add_memory", text="   "))
            assert error_text(await call(session, "add_memory", text="x", kind="gossip"))
            assert error_text(await call(session, "list_memories", cursor="not-a-cursor"))

    run(scenario())
    assert proxy.memories("ada") == []
    response = httpx.post(f"{proxy.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_user"


def test_http_needs_the_admin_key_when_one_is_set(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(admin_key="k-123")
    response = httpx.post(
        f"{proxy.url}/mcp", headers={"X-User-Id": "ada"}, json={"jsonrpc": "2.0", "id": 1}
    )
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"

    async def scenario() -> list[str]:
        headers = {"X-User-Id": "ada", "Authorization": "Bearer k-123"}
        async with http_session(proxy.url, **headers) as session:
            added = data(await call(session, "add_memory", text="I live in Lisbon."))
            return [m["text"] for m in added["added"]]

    assert run(scenario()) == ["I live in Lisbon."]


def test_mcp_off_answers_404(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(mcp_enabled=False)
    response = httpx.post(f"{proxy.url}/mcp", headers={"X-User-Id": "ada"}, json={})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "mcp_off"
    assert proxy.http.get("/healthz").json()["mcp"] == "off"


def test_the_mcp_endpoint_starts_on_its_first_request(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy()
    assert proxy.http.get("/healthz").json()["mcp"] == "idle"  # nothing imported at start

    async def scenario() -> set[str]:
        async with http_session(proxy.url, **{"X-User-Id": "ada"}) as session:
            return {tool.name for tool in (await session.list_tools()).tools}

    assert run(scenario()) == TOOLS
    assert proxy.http.get("/healthz").json()["mcp"] == "running"


def test_stdio_through_a_running_proxy(proxy: Proxy, upstream: FakeUpstream) -> None:
    proxy.tell("bob", "My dog is called Rex.")

    async def scenario() -> None:
        args = ["--user", "ada", "--agent", "desktop", "--proxy-url", proxy.url]
        async with stdio_session(*args) as session:
            added = data(
                await call(session, "add_memory", text="I prefer short answers.", kind="preference")
            )
            [memory] = added["added"]
            assert (memory["user_id"], memory["agent_id"]) == ("ada", "desktop")
            assert data(await call(session, "search_memories", query="dog Rex"))["data"] == []
            updated = data(
                await call(
                    session, "update_memory", memory_id=memory["id"], text="I prefer brief answers."
                )
            )
            assert updated["text"] == "I prefer brief answers."
            profile = data(await call(session, "get_profile"))
            assert [m["text"] for m in profile["data"]] == ["I prefer brief answers."]

    run(scenario())
    proxy.client("ada").chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "Explain brief answers please"}]
    )
    assert "I prefer brief answers." in upstream.last_chat().system_text()
    assert "Rex" not in upstream.last_chat().system_text()


def test_stdio_owning_a_data_dir(tmp_path: Path) -> None:
    async def scenario() -> None:
        args = ["--user", "ada", "--data-dir", str(tmp_path / "data")]
        async with stdio_session(*args) as session:
            added = data(await call(session, "add_memory", text="I live in Lisbon."))
            [memory] = added["added"]
            listed = data(await call(session, "list_memories"))
            assert [m["id"] for m in listed["data"]] == [memory["id"]]
            assert data(await call(session, "delete_memory", memory_id=memory["id"]))["deleted"]
            assert data(await call(session, "list_memories"))["data"] == []

    run(scenario())


def test_stdio_without_a_user_exits_with_usage_error() -> None:
    import subprocess

    script = Path(sys.executable).with_name("memory-proxy")
    done = subprocess.run([str(script), "mcp"], capture_output=True, text=True, timeout=60, env={})
    assert done.returncode == 2
    assert "--user" in done.stderr


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stdio child must not pick up a developer's MEMORY_PROXY_* variables."""
    for name in ("MEMORY_PROXY_URL", "MEMORY_PROXY_MCP_USER", "MEMORY_PROXY_ADMIN_KEY"):
        monkeypatch.delenv(name, raising=False)
