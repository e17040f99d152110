"""A chat request checked against OpenAI's schema before litellm translates it (pure).

On the upstream path the upstream validates what it is sent. On a routed path litellm
translates the request first, and on malformed input it fails inside its translation (a
`KeyError`, "'int' object is not iterable", an import of an optional package) with a 500 that
names no parameter. So the shapes OpenAI documents are checked here, with a 400 that says which
parameter is wrong; a request that passes is valid OpenAI, and a failure after that is ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxy.core.errors import InvalidRequest

__all__ = ["check_routed_request"]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_NUMBERS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
_INTEGERS = ("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs")
_OBJECTS = ("stream_options", "logit_bias", "response_format", "prediction", "audio", "thinking")


def _fail(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {message}", param=param)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_part(part: Any, param: str) -> None:
    if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
        raise _fail(param, "must be an object with a string 'type'")
    kind = part["type"]
    if kind == "text" and not isinstance(part.get("text"), str):
        raise _fail(f"{param}.text", "must be a string")
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        if not isinstance(url, str):
            raise _fail(f"{param}.image_url", "must be a URL or an object with a string 'url'")
    if kind in ("input_audio", "file") and not isinstance(part.get(kind), Mapping):
        raise _fail(f"{param}.{kind}", "must be an object")


def _check_tool_call(call: Any, param: str) -> None:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(call, Mapping) or not isinstance(call.get("id"), str):
        raise _fail(param, "must be an object with a string 'id'")
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise _fail(f"{param}.function", "must be an object with a string 'name'")
    if not isinstance(function.get("arguments", ""), str):
        raise _fail(f"{param}.function.arguments", "must be a string (JSON)")


def _check_message(message: Mapping[str, Any], param: str) -> None:
    role = message["role"]
    if role not in ROLES:
        raise _fail(f"{param}.role", f"must be one of {', '.join(sorted(ROLES))}")
    content = message.get("content")
    calls = message.get("tool_calls")
    if content is None:
        if role != "assistant" or not (calls or message.get("function_call")):
            raise _fail(f"{param}.content", "is required")
    elif isinstance(content, list):
        for index, part in enumerate(content):
            _check_part(part, f"{param}.content[{index}]")
    elif not isinstance(content, str):
        raise _fail(f"{param}.content", "must be a string or an array of content parts")
    if calls is not None:
        if not isinstance(calls, list):
            raise _fail(f"{param}.tool_calls", "must be an array")
        for index, call in enumerate(calls):
            _check_tool_call(call, f"{param}.tool_calls[{index}]")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise _fail(f"{param}.tool_call_id", "must be a string")


def _check_tools(tools: Any) -> None:
    if not isinstance(tools, list):
        raise _fail("tools", "must be an array")
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise _fail(f"tools[{index}].function", "must be an object with a string 'name'")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise _fail(f"tools[{index}].function.parameters", "must be an object")


def _check_parameters(body: Mapping[str, Any]) -> None:
    for name in _NUMBERS:
        if body.get(name) is not None and not _is_number(body[name]):
            raise _fail(name, "must be a number")
    for name in _INTEGERS:
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise _fail(name, "must be an integer")
    for name in _OBJECTS:
        if body.get(name) is not None and not isinstance(body[name], Mapping):
            raise _fail(name, "must be an object")
    stop = body.get("stop")
    strings = isinstance(stop, list) and all(isinstance(s, str) for s in stop)
    if stop is not None and not isinstance(stop, str) and not strings:
        raise _fail("stop", "must be a string or an array of strings")
    for name in ("user", "reasoning_effort", "safety_identifier", "service_tier"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise _fail(name, "must be a string")
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise _fail("stream", "must be a boolean")
    choice = body.get("tool_choice")
    if choice is not None and not isinstance(choice, str | Mapping):
        raise _fail("tool_choice", "must be a string or an object")
    response_format = body.get("response_format")
    if isinstance(response_format, Mapping):
        kind = response_format.get("type")
        if kind not in ("text", "json_object", "json_schema"):
            raise _fail("response_format.type", "must be text, json_object or json_schema")
        schema = response_format.get("json_schema")
        if kind == "json_schema" and not (
            isinstance(schema, Mapping) and isinstance(schema.get("name"), str)
        ):
            raise _fail("response_format.json_schema", "must be an object with a string 'name'")


def check_routed_request(body: Mapping[str, Any], messages: list[dict[str, Any]]) -> None:
    """Raises InvalidRequest (400, with `param`) for what OpenAI's API would refuse."""
    for index, message in enumerate(messages):
        _check_message(message, f"messages[{index}]")
    if body.get("tools") is not None:
        _check_tools(body["tools"])
    _check_parameters(body)
