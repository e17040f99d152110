"""A routed call's failure as an OpenAI error envelope with the provider's own status (pure).

litellm raises its own exception types; their `status_code` is not always the provider's (an
Anthropic 529 "overloaded" arrives as a 500), and their message wraps the provider's error body
in litellm's prefixes (`litellm.NotFoundError: AnthropicException - {"type": "error", ...}`,
for a stream as a bytes repr `b'{...}'`). So the provider's body is read back out of the message:
its status, its error type as the envelope's `code`, its message, and Gemini's retry delay.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy.core.errors import ProviderError

__all__ = ["Detail", "Failure", "provider_detail", "provider_error"]

# Anthropic's error types and the statuses it sends them with.
ANTHROPIC_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
_PASSED_HEADERS = ("retry-after", "retry-after-ms")
_REQUEST_ID_HEADERS = ("request-id", "x-request-id")
_PREFIX = re.compile(r"^(?:litellm\.\w+: |\w+(?:Exception|Error)(?: \w+)? - )")
_MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Failure:
    """What a failed litellm call told (gathered by the adapter from litellm's exception)."""

    status: int | None  # litellm's status_code
    message: str  # litellm's message
    headers: Mapping[str, str] | None  # the provider's response headers; None: no answer came
    timed_out: bool = False
    unreachable: bool = False  # the connection failed: refused, reset, name not resolved


@dataclass(frozen=True)
class Detail:
    """The provider's error body, as far as it could be read."""

    message: str | None = None
    code: str | None = None
    status: int | None = None
    retry_after_s: int | None = None


def _embedded_json(message: str) -> Any:
    start = message.find("{")
    if start < 0:
        return None
    try:
        return json.JSONDecoder().raw_decode(message[start:])[0]
    except ValueError:
        pass
    quoted = re.search(r"b'.*'|b\".*\"", message, re.DOTALL)  # a bytes repr with escapes
    if quoted is None:
        return None
    try:
        raw = ast.literal_eval(quoted.group(0))
        return json.JSONDecoder().raw_decode(raw.decode("utf-8", "replace"))[0]
    except (ValueError, SyntaxError, AttributeError):
        return None


def _retry_delay(details: Any) -> int | None:
    """Gemini's google.rpc.RetryInfo (`"retryDelay": "31s"`), in whole seconds."""
    for item in details if isinstance(details, list) else ():
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0, math.ceil(float(delay[:-1])))
            except ValueError:
                return None
    return None


def provider_detail(message: str) -> Detail:
    """The provider's error body inside litellm's message: Anthropic's
    `{"type": "error", "error": {"type", "message"}}`, Gemini's `{"error": {"code", "message",
    "status", "details"}}`, OpenAI's `{"error": {"message", "type", "code"}}`, Ollama's
    `{"error": "..."}`."""
    body = _embedded_json(message)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return Detail(message=error)
    if not isinstance(error, dict):
        return Detail()
    text = error.get("message") if isinstance(error.get("message"), str) else None
    numeric = error.get("code") if isinstance(error.get("code"), int) else None
    code: Any = error.get("status") if numeric is not None else error.get("code")
    code = code or error.get("type")
    status = numeric
    if status is None and body.get("type") == "error":
        status = ANTHROPIC_STATUS.get(str(error.get("type")))
    return Detail(
        message=text,
        code=str(code) if code else None,
        status=status,
        retry_after_s=_retry_delay(error.get("details")),
    )


def clean_message(message: str) -> str:
    """litellm's message without its prefixes, its advice and any traceback."""
    text = message.split("\nTraceback", 1)[0].split(". Handle with `litellm", 1)[0]
    while True:
        stripped = _PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return text.strip()[:_MAX_MESSAGE] or "the provider call failed"


def _envelope_type(status: int) -> str:
    if status >= 500:
        return "upstream_error"
    return {
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "invalid_request_error")


def provider_error(failure: Failure, provider: str) -> ProviderError:
    if failure.timed_out:
        return ProviderError(
            f"{provider} did not answer in time",
            status=504,
            type_="upstream_error",
            code="upstream_timeout",
        )
    if failure.headers is None:  # no answer came: litellm failed before or while connecting
        if failure.unreachable:
            return ProviderError(
                f"cannot reach {provider}: {clean_message(failure.message)}",
                status=502,
                type_="upstream_error",
                code="upstream_unreachable",
            )
        status = failure.status if failure.status and 400 <= failure.status < 600 else 500
        # A missing key or an unknown provider: asking again cannot help.
        return ProviderError(
            f"the call to {provider} failed before it was sent: {clean_message(failure.message)}",
            status=status,
            type_=_envelope_type(status),
            code="provider_call_failed",
            headers={"x-should-retry": "false"},
        )
    detail = provider_detail(failure.message)
    status = next(
        (s for s in (detail.status, failure.status) if s is not None and 400 <= s < 600), 502
    )
    headers = {k: failure.headers[k] for k in _PASSED_HEADERS if k in failure.headers}
    if "retry-after" not in headers and detail.retry_after_s is not None:
        headers["retry-after"] = str(detail.retry_after_s)
    request_id = next(
        (failure.headers[k] for k in _REQUEST_ID_HEADERS if k in failure.headers), None
    )
    if request_id:
        headers["x-request-id"] = request_id
    return ProviderError(
        detail.message or clean_message(failure.message),
        status=status,
        type_=_envelope_type(status),
        code=detail.code or ("rate_limit_exceeded" if status == 429 else "provider_error"),
        headers=headers,
    )
