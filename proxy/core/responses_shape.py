"""litellm's Responses objects and events reshaped into what OpenAI's API sends (pure).

litellm's answers to a routed `/v1/responses` are close to OpenAI's, with differences a client
can see: most stream events lack `sequence_number` (the SDKs' stream helpers and every real
server number them), `model` is the provider's name, and provider extras ride along
(`provider_specific_fields`, a `cost` in the usage). `store` is reported false: nothing of a
routed response is kept anywhere to be retrieved later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["EventShaper", "response_body"]

_EXTRAS = frozenset({"provider_specific_fields", "cost"})


def _clean(value: Any) -> Any:
    """The value without litellm's and the provider's extra fields, at any depth."""
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items() if k not in _EXTRAS}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def response_body(raw: Mapping[str, Any], model: str) -> dict[str, Any]:
    """A `response` object from litellm's `ResponsesAPIResponse.model_dump()`."""
    body: dict[str, Any] = _clean(raw)
    body |= {"object": "response", "model": model, "store": False}
    body.setdefault("metadata", {})
    return body


class EventShaper:
    """Feed litellm's stream events (`model_dump()`s) in order; out come OpenAI's SSE events,
    each `event: <type>` and `data: {...}` with its `sequence_number`, 0, 1, 2, ..."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._sequence = 0

    def event(self, raw: Mapping[str, Any]) -> bytes:
        payload: dict[str, Any] = _clean(raw)
        if isinstance(payload.get("response"), Mapping):
            payload["response"] = response_body(payload["response"], self._model)
        payload["sequence_number"] = self._sequence
        self._sequence += 1
        kind = str(payload.get("type") or "message")
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        try:
            data = text.encode()
        except UnicodeEncodeError:  # a lone surrogate is not UTF-8: keep it escaped
            data = json.dumps(payload, separators=(",", ":")).encode()
        return f"event: {kind}\n".encode() + b"data: " + data + b"\n\n"
