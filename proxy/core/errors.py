"""Every exception the proxy defines, and the error envelopes its own errors render to: OpenAI's,
and Anthropic's on the routes that speak the Anthropic API."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

__all__ = [
    "DatabaseTooNew",
    "EvalError",
    "ExtractionParseError",
    "Forbidden",
    "InvalidRequest",
    "JudgeParseError",
    "MemoryToolError",
    "MemoryUnavailable",
    "NotFound",
    "PayloadTooLarge",
    "ProxyError",
    "StoreUnavailable",
    "TimeOutOfRange",
    "Unauthorized",
    "UpstreamBrokeOff",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "error_body",
    "error_response",
]


class ProxyError(Exception):
    """An error the proxy itself answers, in OpenAI's envelope."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}


class InvalidRequest(ProxyError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class Unauthorized(ProxyError):
    status = 401
    type = "authentication_error"
    code = "invalid_admin_key"


class Forbidden(ProxyError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class NotFound(ProxyError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class PayloadTooLarge(ProxyError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class ServerBusy(ProxyError):
    """Too many request bytes held at once (concurrent large bodies); retry shortly."""

    status = 503
    type = "server_error"
    code = "server_busy"


class UpstreamUnreachable(ProxyError):
    status = 502
    type = "upstream_error"
    code = "upstream_unreachable"


class UpstreamTimeout(ProxyError):
    status = 504
    type = "upstream_error"
    code = "upstream_timeout"


class ProviderError(ProxyError):
    """A routed call's provider (through litellm) refused or failed: its status, in OpenAI's
    envelope (proxy/core/provider_errors.py decides status, type and code)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        type_: str,
        code: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code, headers=headers)
        self.status = status
        self.type = type_
        self.code = code


class StoreUnavailable(ProxyError):
    """A memory management call could not reach the store (503)."""

    status = 503
    type = "server_error"
    code = "memory_unavailable"


class MemoryUnavailable(Exception):
    """The memory store or embedder failed; callers degrade to 'no memories' (fail open)."""


class DatabaseTooNew(MemoryUnavailable):
    """A SQLite database of the data dir has a schema version newer than this code knows: it
    is not opened (the proxy serves without memory rather than misread it)."""


class UpstreamBrokeOff(Exception):
    """The upstream stopped mid-answer, after its status and headers were received."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class TurnNotPersisted(Exception):
    """A turn could not be written to the outbox (a full disk, a failing data dir): it is lost,
    counted, and the call says so (X-Memory-Status: error)."""


class ExtractionParseError(ValueError):
    """The extraction model's answer could not be read as decisions."""


class TimeOutOfRange(ValueError):
    """A time outside the accepted range; the message says which range."""


class EvalError(Exception):
    """`memory-proxy eval` cannot go on: a bad case file, a state file of another run, ...;
    the message is for the person who ran it."""


class JudgeParseError(ValueError):
    """The judge model's answer could not be read as a verdict."""


class MemoryToolError(Exception):
    """An MCP memory tool refused or failed; the message is what the agent's model reads."""


def error_body(
    message: str, type_: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(exc: ProxyError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.message, exc.type, param=exc.param, code=exc.code),
        status_code=exc.status,
        headers=exc.headers,
    )


# Anthropic's error types by status (docs.claude.com/en/api/errors; 504 as its SDK's timeout_error).
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_body(message: str, status: int) -> dict[str, Any]:
    type_ = _ANTHROPIC_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    return {"type": "error", "error": {"type": type_, "message": message}}


def anthropic_error_response(exc: ProxyError) -> JSONResponse:
    return JSONResponse(
        anthropic_error_body(exc.message, exc.status), status_code=exc.status, headers=exc.headers
    )
