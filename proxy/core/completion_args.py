"""The arguments of a routed chat call: what of the client's OpenAI request goes to
`litellm.acompletion`, and what is dropped (pure).

Only OpenAI's own chat parameters are passed on. litellm's `acompletion` also takes its own
control arguments as keywords (`api_base`, `api_key`, `mock_response`, `metadata` for its
callbacks, `aws_*` credentials, ...): a request body must never reach those, or any client could
send the route's key to a server of its choosing. Everything else in the body is dropped;
`drop_params=True` then lets litellm drop what the provider has no equivalent for (Anthropic has
no `logit_bias`) instead of refusing the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FORWARDED", "CompletionCall", "completion_call", "proxy_decides"]

# OpenAI chat parameters litellm maps for the providers that have them (`thinking`: Anthropic's
# extended thinking, which litellm takes as is; a client sends it with `extra_body`).
FORWARDED = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "stream_options",
        "temperature",
        "thinking",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
# Handled here, not forwarded as they came.
_OWN = frozenset({"model", "messages", "stream"})


@dataclass(frozen=True)
class CompletionCall:
    arguments: dict[str, Any] = field(repr=False)  # holds the key
    stream: bool
    include_usage: bool  # the client asked for a usage chunk at the end of the stream
    dropped: tuple[str, ...]  # body fields not passed on (reported in the debug log)


def completion_call(
    body: Mapping[str, Any],
    messages: list[dict[str, Any]],
    *,
    litellm_model: str,
    params: Mapping[str, Any],
    api_base: str | None,
    api_key: str | None,
    timeout_s: float,
) -> CompletionCall:
    """The route's `params` first, the client's parameters over them, and last what the proxy
    decides itself (model, messages, where the call goes, its key and time limit; no retries:
    the client's SDK retries, and retrying here too would multiply its attempts)."""
    stream = body.get("stream") is True
    client = {k: v for k, v in body.items() if k in FORWARDED and v is not None}
    if not stream:
        client.pop("stream_options", None)  # meaningless without a stream; some providers refuse it
    options = client.get("stream_options")
    include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
    arguments: dict[str, Any] = {
        **params,
        **client,
        "model": litellm_model,
        "messages": messages,
        "stream": stream,
        **proxy_decides(api_base, api_key, timeout_s),
    }
    dropped = tuple(sorted(k for k in body if k not in FORWARDED and k not in _OWN))
    return CompletionCall(arguments, stream, include_usage, dropped)


def proxy_decides(api_base: str | None, api_key: str | None, timeout_s: float) -> dict[str, Any]:
    """The litellm arguments no client sets: where, with which key, how long; no retries (the
    client's SDK retries); parameters a provider lacks dropped, not refused."""
    return {
        "api_base": api_base,
        "api_key": api_key,
        "timeout": timeout_s,
        "num_retries": 0,
        "max_retries": 0,
        "drop_params": True,
        # With `tools`, litellm first hands the call to its MCP gateway, which would connect to
        # MCP servers a client's tool names (and fails where the `mcp` package is missing): the
        # proxy's tools are the client's functions, for the model only.
        "_skip_mcp_handler": True,
    }
