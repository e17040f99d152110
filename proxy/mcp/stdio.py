"""`memory-proxy mcp`: the memory as an MCP server on stdin/stdout, for desktop agents (Claude
Desktop, Cursor, ...), fixed to one user (and optionally one agent) for the whole session.

By default it talks to a running proxy's /memories API (--proxy-url / MEMORY_PROXY_URL, default
http://127.0.0.1:8080; MEMORY_PROXY_ADMIN_KEY if the proxy needs one): the embedded store is
owned by the one process that serves it. With --data-dir it opens that store itself instead:
only when no proxy has it open (chromadb's embedded store corrupts with two owners).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from proxy.core.errors import InvalidRequest
from proxy.core.scope import Scope, validate_id

if TYPE_CHECKING:
    from proxy.mcp.backend import LocalBackend

__all__ = ["register", "run"]

EXIT_USAGE = 2


class McpEnvironment(BaseSettings):
    """Flags override these (desktop agents' configs set env vars more easily than flags)."""

    model_config = SettingsConfigDict(extra="ignore")

    user: str | None = Field(None, validation_alias=AliasChoices("MEMORY_PROXY_MCP_USER"))
    agent: str | None = Field(None, validation_alias=AliasChoices("MEMORY_PROXY_MCP_AGENT"))
    url: str = Field("http://127.0.0.1:8080", validation_alias=AliasChoices("MEMORY_PROXY_URL"))
    admin_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("MEMORY_PROXY_ADMIN_KEY")
    )


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "mcp",
        help="serve the memory of one user to an agent over MCP (stdio)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--user", help="whose memory (env MEMORY_PROXY_MCP_USER); required")
    parser.add_argument("--agent", help="this agent's id (env MEMORY_PROXY_MCP_AGENT)")
    parser.add_argument("--proxy-url", help="a running proxy (env MEMORY_PROXY_URL)")
    parser.add_argument(
        "--data-dir", type=Path, help="open this store in this process (no proxy may have it open)"
    )
    parser.add_argument("--config", type=Path, help="with --data-dir: the proxy's YAML config")


def _scope(args: argparse.Namespace, env: McpEnvironment) -> Scope:
    user = args.user or env.user
    if not user:
        raise InvalidRequest("name the user: --user or MEMORY_PROXY_MCP_USER")
    agent = args.agent or env.agent
    return Scope(
        user_id=validate_id(user, "--user"),
        agent_id=None if agent is None else validate_id(agent, "--agent"),
    )


def run(args: argparse.Namespace) -> int:
    # stdout is the protocol: every log line goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    env = McpEnvironment()
    try:
        scope = _scope(args, env)
    except InvalidRequest as exc:
        print(f"memory-proxy mcp: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    asyncio.run(_serve(args, env, scope))
    return 0


async def _serve(args: argparse.Namespace, env: McpEnvironment, scope: Scope) -> None:
    from proxy.mcp.tools import build_server
    from proxy.settings import secret

    if args.data_dir is not None:
        async with _own_store(args.data_dir, args.config) as backend:
            await build_server(backend, lambda ctx: scope).run_stdio_async()
        return
    from proxy.mcp.remote import RemoteBackend

    remote = RemoteBackend(args.proxy_url or env.url, secret(env.admin_key))
    try:
        await build_server(remote, lambda ctx: scope).run_stdio_async()
    finally:
        await remote.close()


@asynccontextmanager
async def _own_store(data_dir: Path, config: Path | None) -> AsyncIterator[LocalBackend]:
    from proxy.app import build_memory
    from proxy.mcp.backend import LocalBackend
    from proxy.settings import load_settings

    settings = load_settings(data_dir=data_dir, config_file=config)
    memory = await asyncio.to_thread(build_memory, settings, None)
    try:
        yield LocalBackend(lambda: memory)
    finally:
        memory.close()
