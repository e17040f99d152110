"""A routed Responses API call (`POST /v1/responses` for a model a route serves): what is
refused, checked and passed to `litellm.aresponses`, which translates it into the provider's chat
call (pure).

What the Responses API keeps on OpenAI's servers has no equivalent behind a route: a
`previous_response_id` or a `conversation` (the history the server holds), `background` runs
and stored `prompt` templates are refused with a 400, rather than answered as if the model had
been given a history it was not. Only OpenAI's own parameters are passed on, as for chat
(proxy/core/completion_args.py): a body field naming one of litellm's own arguments never
reaches it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy.core.completion_args import proxy_decides
from proxy.core.errors import InvalidRequest

__all__ = ["FORWARDED", "ResponsesCall", "check_routed_responses", "responses_call"]

FORWARDED = frozenset(
    {
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "parallel_tool_calls",
        "prompt_cache_key",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)
# Server-held state a route cannot give.
REFUSED = ("previous_response_id", "conversation", "prompt")
ROLES = frozenset({"user", "assistant", "system", "developer"})
ITEM_TYPES = frozenset({"message", "function_call", "function_call_output"})
_OWN = frozenset({"model", "stream", "background"})


def _fail(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {message}", param=param)


def _check_message(item: Mapping[str, Any], param: str) -> None:
    role = item.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise _fail(f"{param}.role", f"must be one of {', '.join(sorted(ROLES))}")
    content = item.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _fail(f"{param}.content", "must be a string or an array of content parts")
    for index, part in enumerate(content):
        where = f"{param}.content[{index}]"
        if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
            raise _fail(where, "must be an object with a string 'type'")
        if part["type"] in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            raise _fail(f"{where}.text", "must be a string")


def _check_item(item: Any, param: str) -> None:
    if not isinstance(item, Mapping):
        raise _fail(param, "must be an object")
    kind = item.get("type", "message")
    if not isinstance(kind, str) or kind not in ITEM_TYPES:
        raise _fail(f"{param}.type", f"{kind!r} items are not supported by a routed model")
    if kind == "message":
        _check_message(item, param)
    elif kind == "function_call":
        for name in ("call_id", "name", "arguments"):
            if not isinstance(item.get(name), str):
                raise _fail(f"{param}.{name}", "must be a string")
    elif not isinstance(item.get("call_id"), str) or "output" not in item:
        raise _fail(param, "a function_call_output needs a string 'call_id' and an 'output'")


def check_routed_responses(body: Mapping[str, Any]) -> None:
    """Raises InvalidRequest (400, with `param`) for what a route cannot serve or litellm could
    not translate (it would fail inside with a 500)."""
    for name in REFUSED:
        if body.get(name):
            raise _fail(name, "not supported for a routed model (the provider keeps no history)")
    if body.get("background"):
        raise _fail("background", "not supported for a routed model")
    items = body.get("input")
    if isinstance(items, list):
        for index, item in enumerate(items):
            _check_item(item, f"input[{index}]")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _fail("tools", "must be an array")
        for index, tool in enumerate(tools):
            if not isinstance(tool, Mapping) or not isinstance(tool.get("type"), str):
                raise _fail(f"tools[{index}]", "must be an object with a string 'type'")
            if tool["type"] == "function" and not isinstance(tool.get("name"), str):
                raise _fail(f"tools[{index}].name", "must be a string")
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise _fail(name, "must be a number")
    for name in ("max_output_tokens", "max_tool_calls", "top_logprobs"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise _fail(name, "must be an integer")
    for name in ("reasoning", "text"):
        if body.get(name) is not None and not isinstance(body[name], Mapping):
            raise _fail(name, "must be an object")
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise _fail("stream", "must be a boolean")


@dataclass(frozen=True)
class ResponsesCall:
    arguments: dict[str, Any] = field(repr=False)  # holds the key
    stream: bool
    dropped: tuple[str, ...]


def responses_call(
    body: Mapping[str, Any],
    *,
    litellm_model: str,
    params: Mapping[str, Any],
    api_base: str | None,
    api_key: str | None,
    timeout_s: float,
) -> ResponsesCall:
    """The route's `params`, the client's parameters over them, then what the proxy decides."""
    stream = body.get("stream") is True
    client = {k: v for k, v in body.items() if k in FORWARDED and v is not None}
    arguments: dict[str, Any] = {
        **params,
        **client,
        "model": litellm_model,
        "stream": stream,
        "store": False,  # nothing is kept: the provider has no store, litellm's needs a database
        **proxy_decides(api_base, api_key, timeout_s),
    }
    dropped = tuple(sorted(k for k in body if k not in FORWARDED and k not in _OWN))
    return ResponsesCall(arguments, stream, dropped)
