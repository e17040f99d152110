"""Calls to models behind a route, through litellm (imported only when a route is used)."""

__all__ = ["completion", "setup"]
