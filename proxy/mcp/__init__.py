"""The memory as MCP tools, for agents: stdio (`memory-proxy mcp`) and streamable HTTP at /mcp."""

__all__ = ["backend", "http", "remote", "route", "stdio", "tools"]
