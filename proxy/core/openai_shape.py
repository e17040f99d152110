"""litellm's answers reshaped into exactly what OpenAI's API sends (pure).

litellm's own objects are OpenAI-like but not OpenAI: a stream's chunks may each carry a
different id (Ollama), the usage rides on a chunk with a non-empty `choices`, `model` is
litellm's string (`ollama_chat/llama3`), and provider extras sit beside the standard fields
(`provider_specific_fields`, `vertex_ai_safety_ratings`, ...). Both SDKs parse the standard
fields only, and a client written against OpenAI must not see the difference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["StreamShaper", "completion_body", "sse_event"]

# Message and delta fields OpenAI defines; `reasoning_content` is what OpenAI-compatible servers
# (DeepSeek, vLLM) and litellm use for a model's visible reasoning (Claude's thinking).
_MESSAGE_FIELDS = ("role", "content", "refusal", "tool_calls", "function_call", "reasoning_content")
_USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
_DETAIL_FIELDS = {
    "prompt_tokens_details": ("cached_tokens", "audio_tokens"),
    "completion_tokens_details": ("reasoning_tokens", "audio_tokens"),
}


def _fields(source: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: source[name] for name in names if source.get(name) is not None}


def _usage(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        return None
    usage: dict[str, Any] = {name: int(raw.get(name) or 0) for name in _USAGE_FIELDS}
    for name, keys in _DETAIL_FIELDS.items():
        details = raw.get(name)
        if isinstance(details, Mapping):
            kept = {key: details[key] for key in keys if isinstance(details.get(key), int)}
            if kept:
                usage[name] = kept
    return usage


def completion_body(raw: Mapping[str, Any], model: str, created: int) -> dict[str, Any]:
    """A `chat.completion` object from litellm's `ModelResponse.model_dump()`."""
    choices = []
    for index, choice in enumerate(raw.get("choices") or ()):
        message = _fields(choice.get("message") or {}, _MESSAGE_FIELDS)
        message.setdefault("role", "assistant")
        message.setdefault("content", None)
        message.setdefault("refusal", None)
        choices.append(
            {
                "index": choice.get("index", index),
                "message": message,
                "logprobs": choice.get("logprobs"),
                "finish_reason": choice.get("finish_reason") or "stop",
            }
        )
    body: dict[str, Any] = {
        "id": raw.get("id") or "chatcmpl-routed",
        "object": "chat.completion",
        "created": raw.get("created") or created,
        "model": model,
        "choices": choices,
    }
    usage = _usage(raw.get("usage"))
    if usage is not None:
        body["usage"] = usage
    body["system_fingerprint"] = None
    return body


class StreamShaper:
    """Feed litellm's stream chunks (`model_dump()`s) in order; out come OpenAI's
    `chat.completion.chunk`s: one id for the whole stream, only standard fields, no empty
    chunks, and the usage, if the client asked for it, alone at the end with `choices: []`."""

    def __init__(self, model: str, created: int, include_usage: bool) -> None:
        self._model = model
        self._created = created
        self._include_usage = include_usage
        self._id: str | None = None
        self._usage: dict[str, Any] | None = None
        self._parts: list[str] = []

    @property
    def text(self) -> str:
        """The content of choice 0 so far (what the memory writes back)."""
        return "".join(self._parts)

    def feed(self, raw: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self._id is None:
            self._id = str(raw.get("id") or "chatcmpl-routed")
        usage = _usage(raw.get("usage"))
        if usage is not None:
            self._usage = usage
        choices = []
        for index, choice in enumerate(raw.get("choices") or ()):
            delta = _fields(choice.get("delta") or {}, _MESSAGE_FIELDS)
            finish = choice.get("finish_reason")
            if not delta and finish is None:
                continue  # litellm's carrier of the usage, or a keep-alive
            position = choice.get("index", index)
            if position == 0 and isinstance(delta.get("content"), str):
                self._parts.append(delta["content"])
            choices.append(
                {
                    "index": position,
                    "delta": delta,
                    "logprobs": choice.get("logprobs"),
                    "finish_reason": finish,
                }
            )
        return [self._chunk(choices)] if choices else []

    def finish(self) -> list[dict[str, Any]]:
        """What ends the stream: the usage chunk, when asked for and known."""
        if not self._include_usage or self._usage is None:
            return []
        return [{**self._chunk([]), "usage": self._usage}]

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self._id or "chatcmpl-routed",
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": None,
            "choices": choices,
        }


def sse_event(payload: Mapping[str, Any]) -> bytes:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate is not UTF-8: keep it escaped
        data = json.dumps(payload, separators=(",", ":")).encode()
    return b"data: " + data + b"\n\n"
