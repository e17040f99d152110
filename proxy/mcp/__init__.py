"""The memory as MCP tools, for agents: stdio (`memory-proxy mcp`) and streamable HTTP at /mcp."""
