"""Loopback fakes of three non-OpenAI APIs, speaking their real wire formats, recording what they
receive: Anthropic Messages (`POST /v1/messages`), Gemini (`POST /v1beta/models/{m}:
generateContent` and `:streamGenerateContent?alt=sse`) and Ollama (`POST /api/chat`,
`POST /api/embed`). Each checks what the real API would refuse (a `system` role among
Anthropic's messages, a missing key, Gemini roles other than user/model), so a test passes only
if litellm translated the OpenAI request the way the provider needs it.

Formats follow the providers' API references; an error is scripted with `fail_next`."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from testbed.fake_upstream import Recorded

Reply = Callable[[dict[str, Any]], str]


@dataclass
class Failure:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeProvider:
    """What the three fakes share: recording, scripted failures, a reply function, a delay."""

    def __init__(self, reply: Reply | None = None, chunks: int = 5) -> None:
        self.requests: list[Recorded] = []
        self.reply: Reply = reply or (lambda body: "Sure, noted.")
        self.chunks = chunks
        self.delay = 0.0  # before answering
        self.chunk_delay = 0.0  # between the chunks of a stream
        self.cut_streams = 0  # streams the client (the proxy) hung up on before their end
        self.url = ""
        self._failures: list[Failure] = []
        self._lock = threading.Lock()
        self.app = Starlette(routes=self.routes())

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._failures.append(Failure(status, body, headers or {}))

    def last(self) -> Recorded:
        return self.requests[-1]

    async def _record(self, request: Request) -> Recorded:
        recorded = Recorded(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
        )
        self.requests.append(recorded)
        if self.delay:
            await asyncio.sleep(self.delay)
        return recorded

    def _scripted_failure(self) -> Response | None:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is None:
            return None
        return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)

    def pieces(self, text: str) -> list[str]:
        size = max(1, -(-len(text) // self.chunks))
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


# --- Anthropic Messages -------------------------------------------------------------------


class FakeAnthropic(FakeProvider):
    # Answer with this tool call ({"name", "input"}) instead of text (non-streamed answers).
    tool_use: dict[str, Any] | None = None

    def routes(self) -> list[Route]:
        return [Route("/v1/messages", self.messages, methods=["POST"])]

    @staticmethod
    def error(status: int, type_: str, message: str) -> tuple[int, dict[str, Any]]:
        return status, {"type": "error", "error": {"type": type_, "message": message}}

    def _refusal(self, recorded: Recorded) -> Response | None:
        """What the real API refuses before it answers."""
        if not recorded.headers.get("x-api-key"):
            status, body = self.error(401, "authentication_error", "x-api-key header is required")
            return JSONResponse(body, status_code=status)
        if not recorded.headers.get("anthropic-version"):
            status, body = self.error(400, "invalid_request_error", "anthropic-version missing")
            return JSONResponse(body, status_code=status)
        body = recorded.json
        if not isinstance(body.get("max_tokens"), int):
            status, error = self.error(400, "invalid_request_error", "max_tokens: Field required")
            return JSONResponse(error, status_code=status)
        for index, message in enumerate(body.get("messages") or []):
            if message.get("role") not in ("user", "assistant"):
                status, error = self.error(
                    400,
                    "invalid_request_error",
                    f"messages.{index}.role: Input should be 'user' or 'assistant'",
                )
                return JSONResponse(error, status_code=status)
        return None

    async def messages(self, request: Request) -> Response:
        recorded = await self._record(request)
        refused = self._scripted_failure() or self._refusal(recorded)
        if refused is not None:
            return refused
        body = recorded.json
        text = self.reply(body)
        headers = {"request-id": f"req_{len(self.requests)}"}
        usage = {"input_tokens": _tokens(json.dumps(body["messages"])), "output_tokens": 0}
        message = {
            "id": f"msg_{len(self.requests):04d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            usage["output_tokens"] = _tokens(text)
            message |= {"content": [{"type": "text", "text": text}], "stop_reason": "end_turn"}
            if self.tool_use is not None:
                block = {"type": "tool_use", "id": "toolu_01", **self.tool_use}
                message |= {"content": [block], "stop_reason": "tool_use"}
            return JSONResponse(message, headers=headers)
        return StreamingResponse(
            self._events(message, text), media_type="text/event-stream", headers=headers
        )

    async def _events(self, message: dict[str, Any], text: str) -> AsyncIterator[bytes]:
        def event(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

        finished = False
        try:
            async for chunk in self._stream_events(message, text, event):
                yield chunk
            finished = True
        finally:
            if not finished:
                self.cut_streams += 1

    async def _stream_events(
        self, message: dict[str, Any], text: str, event: Callable[[str, dict[str, Any]], bytes]
    ) -> AsyncIterator[bytes]:
        yield event("message_start", {"type": "message_start", "message": message})
        yield event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
        yield event("ping", {"type": "ping"})
        for piece in self.pieces(text):
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            delta = {"type": "text_delta", "text": piece}
            yield event(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": _tokens(text)},
            },
        )
        yield event("message_stop", {"type": "message_stop"})


def anthropic_system(recorded: Recorded) -> str:
    """Anthropic's `system`: a string or a list of text blocks."""
    system = recorded.json.get("system")
    if isinstance(system, list):
        return "\n".join(block.get("text", "") for block in system)
    return system or ""


# --- Gemini generateContent ---------------------------------------------------------------


class FakeGemini(FakeProvider):
    def routes(self) -> list[Route]:
        return [Route("/v1beta/models/{call:path}", self.call, methods=["POST"])]

    @staticmethod
    def error(status: int, reason: str, message: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": reason}}

    def _refusal(self, recorded: Recorded) -> Response | None:
        if not recorded.headers.get("x-goog-api-key") and "key=" not in recorded.query:
            return JSONResponse(
                self.error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers"),
                status_code=403,
            )
        for index, content in enumerate(recorded.json.get("contents") or []):
            if content.get("role") not in ("user", "model"):
                message = f"contents[{index}].role: Please use a valid role: user, model."
                return JSONResponse(self.error(400, "INVALID_ARGUMENT", message), status_code=400)
        return None

    async def call(self, request: Request) -> Response:
        recorded = await self._record(request)
        model, _, method = request.path_params["call"].partition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return JSONResponse(self.error(404, "NOT_FOUND", "not found"), status_code=404)
        refused = self._scripted_failure() or self._refusal(recorded)
        if refused is not None:
            return refused
        text = self.reply(recorded.json)
        prompt = _tokens(json.dumps(recorded.json.get("contents")))
        if method == "generateContent":
            return JSONResponse(self._response(model, text, prompt, "STOP"))
        chunks = [self._response(model, piece, prompt, None) for piece in self.pieces(text)]
        chunks[-1] = self._response(model, self.pieces(text)[-1], prompt, "STOP", _tokens(text))
        if "alt=sse" not in request.url.query:  # without it the API streams one JSON array
            return JSONResponse(chunks)
        return StreamingResponse(self._sse(chunks), media_type="text/event-stream")

    @staticmethod
    async def _sse(chunks: list[dict[str, Any]]) -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\r\n\r\n".encode()

    @staticmethod
    def _response(
        model: str, text: str, prompt: int, finish: str | None, output: int | None = None
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {
            "content": {"parts": [{"text": text}], "role": "model"},
            "index": 0,
        }
        if finish is not None:
            candidate["finishReason"] = finish
        output = _tokens(text) if output is None else output
        return {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": output,
                "totalTokenCount": prompt + output,
            },
            "modelVersion": model,
            "responseId": "resp-fake",
        }


def gemini_system(recorded: Recorded) -> str:
    """The system instruction (the API accepts it in camelCase or snake_case)."""
    body = recorded.json
    instruction = body.get("systemInstruction") or body.get("system_instruction") or {}
    return "\n".join(part.get("text", "") for part in instruction.get("parts", []))


# --- Ollama -------------------------------------------------------------------------------


class FakeOllama(FakeProvider):
    def routes(self) -> list[Route]:
        return [
            Route("/api/chat", self.chat, methods=["POST"]),
            Route("/api/embed", self.embed, methods=["POST"]),
        ]

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/api/chat"]

    async def chat(self, request: Request) -> Response:
        recorded = await self._record(request)
        failure = self._scripted_failure()
        if failure is not None:
            return failure
        body = recorded.json
        text = self.reply(body)
        final = {
            "model": body["model"],
            "created_at": "2026-11-23T10:00:00.000000Z",
            "message": {"role": "assistant", "content": ""},
            "done_reason": "stop",
            "done": True,
            "total_duration": 1_000_000,
            "load_duration": 10_000,
            "prompt_eval_count": _tokens(json.dumps(body["messages"])),
            "prompt_eval_duration": 100_000,
            "eval_count": _tokens(text),
            "eval_duration": 800_000,
        }
        if body.get("stream", True) is False:  # Ollama streams unless told not to
            final["message"]["content"] = text
            return JSONResponse(final)
        return StreamingResponse(self._lines(body, text, final), media_type="application/x-ndjson")

    async def _lines(
        self, body: dict[str, Any], text: str, final: dict[str, Any]
    ) -> AsyncIterator[bytes]:
        for piece in self.pieces(text):
            chunk = {
                "model": body["model"],
                "created_at": "2026-11-23T10:00:00.000000Z",
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
            yield (json.dumps(chunk) + "\n").encode()
        yield (json.dumps(final) + "\n").encode()

    async def embed(self, request: Request) -> Response:
        recorded = await self._record(request)
        inputs = recorded.json.get("input")
        texts = inputs if isinstance(inputs, list) else [inputs]
        return JSONResponse(
            {
                "model": recorded.json.get("model"),
                "embeddings": [_toy_vector(str(text)) for text in texts],
                "total_duration": 1000,
                "prompt_eval_count": len(texts),
            }
        )


def _toy_vector(text: str, dim: int = 16) -> list[float]:
    """A deterministic vector of the text's letters: equal texts, equal vectors."""
    vector = [0.0] * dim
    for index, char in enumerate(text.lower()):
        vector[(ord(char) + index) % dim] += 1.0
    return vector


def ollama_system(recorded: Recorded) -> str:
    return "\n".join(
        m.get("content", "") for m in recorded.json.get("messages", []) if m["role"] == "system"
    )
