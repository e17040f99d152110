"""A small fake OpenAI-compatible upstream that records what it receives and answers as scripted.

Used by the tests and the benchmarks; it speaks the wire format of the real APIs closely enough
for the official SDKs: chat completions (JSON, SSE streams with a usage chunk and [DONE], error
envelopes, x-request-id and rate-limit headers), the Responses API (tests/fake_responses.py) and,
at the same root as an Anthropic upstream, Anthropic Messages (tests/fake_anthropic.py). Model
"cut-stream" makes any stream stop short of its end event."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from testbed.fake_anthropic import input_tokens, message_events, message_object
from testbed.fake_responses import response_events, response_object


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def memory_text(self) -> str:
        """Every memory block the model was given, wherever it sits (the system message, or a
        user message with the cache-aware placement)."""
        blocks = []
        for message in self.json.get("messages", []):
            content = message.get("content")
            parts = [content] if isinstance(content, str) else content or []
            for part in parts:
                text = part if isinstance(part, str) else part.get("text", "")
                if isinstance(text, str) and "<memories>" in text:
                    start = text.index("<memories>")
                    end = text.find("</memories>", start)
                    blocks.append(text[start : end + len("</memories>") if end >= 0 else None])
        return "\n".join(blocks)

    def instructions(self) -> str:
        """The Responses API's `instructions` the model was given."""
        return self.json.get("instructions") or ""

    def anthropic_system(self) -> str:
        """All of Anthropic's `system` text the model was given."""
        system = self.json.get("system")
        if isinstance(system, list):
            return "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
        return system or ""

    def system_text(self) -> str:
        """All system/developer text the model was given."""
        parts = []
        for message in self.json.get("messages", []):
            if message.get("role") in ("system", "developer"):
                content = message.get("content")
                if isinstance(content, list):
                    parts += [p.get("text", "") for p in content if isinstance(p, dict)]
                elif isinstance(content, str):
                    parts.append(content)
        return "\n".join(parts)


@dataclass
class Scripted:
    status: int = 200
    body: Any = None  # JSON body (dict) or raw bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Reply = Callable[[dict[str, Any]], str]
# What the real APIs send on a stream (the proxy must not add a second cache-control).
SSE_HEADERS = {"cache-control": "no-cache, must-revalidate"}


class FakeUpstream:
    """`keep`: record only the last `keep` requests and streams (a benchmark sends thousands);
    None keeps them all (tests read them)."""

    def __init__(
        self, reply: Reply | None = None, chunks: int = 20, keep: int | None = None
    ) -> None:
        self.requests: MutableSequence[Recorded] = [] if keep is None else deque(maxlen=keep)
        # every SSE body exactly as sent
        self.sent_streams: MutableSequence[bytes] = [] if keep is None else deque(maxlen=keep)
        self.reply: Reply = reply or (lambda body: "Sure, noted.")
        self.delay: Callable[[dict[str, Any]], float] = lambda body: 0.0
        self.chunks = chunks
        self._script: list[Scripted] = []
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/responses", self.responses, methods=["POST"]),
                Route("/v1/messages", self.messages, methods=["POST"]),
                Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
                Route(
                    "/v1/{path:path}", self.echo, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]
                ),
            ]
        )

    # --- test controls ----------------------------------------------------------------------
    def script(self, *responses: Scripted) -> None:
        """Answer the next model calls (chat, responses, messages) with these, in order; then
        back to normal replies."""
        with self._lock:
            self._script.extend(responses)

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def last_chat(self) -> Recorded:
        return self.chat_requests()[-1]

    def last(self, path: str) -> Recorded:
        return [r for r in self.requests if r.path == path][-1]

    # --- routes -----------------------------------------------------------------------------
    async def _record(self, request: Request) -> Recorded:
        recorded = Recorded(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
        )
        self.requests.append(recorded)
        return recorded

    async def _scripted(self) -> Response | None:
        with self._lock:
            scripted = self._script.pop(0) if self._script else None
        if scripted is None:
            return None
        if scripted.delay:
            await asyncio.sleep(scripted.delay)
        content = (
            scripted.body
            if isinstance(scripted.body, bytes)
            else json.dumps(scripted.body).encode()
        )
        return Response(
            content,
            status_code=scripted.status,
            headers=scripted.headers,
            media_type="application/json",
        )

    async def _event_stream(self, events: Any) -> Any:
        sent = bytearray()
        for event in events:
            sent += event
            yield event
        self.sent_streams.append(bytes(sent))

    async def _answer(self, request: Request) -> tuple[dict[str, Any], str] | Response:
        """What a model call is answered with: a scripted response, or the reply text."""
        recorded = await self._record(request)
        scripted = await self._scripted()
        if scripted is not None:
            return scripted
        body = recorded.json
        pause = self.delay(body)
        if pause:
            await asyncio.sleep(pause)
        return body, self.reply(body)

    async def responses(self, request: Request) -> Response:
        answer = await self._answer(request)
        if isinstance(answer, Response):
            return answer
        body, text = answer
        response_id = f"resp_{len(self.requests)}"
        headers = {"x-request-id": f"req_{len(self.requests)}"}
        if body.get("stream"):
            events = response_events(
                body, text, response_id, self.chunks, cut=body.get("model") == "cut-stream"
            )
            return StreamingResponse(
                self._event_stream(events),
                media_type="text/event-stream",
                headers={**headers, **SSE_HEADERS},
            )
        return JSONResponse(response_object(body, text, response_id), headers=headers)

    async def messages(self, request: Request) -> Response:
        answer = await self._answer(request)
        if isinstance(answer, Response):
            return answer
        body, text = answer
        message_id = f"msg_{len(self.requests)}"
        headers = {"request-id": f"req_{len(self.requests)}"}
        if body.get("stream"):
            events = message_events(
                body, text, message_id, self.chunks, cut=body.get("model") == "cut-stream"
            )
            return StreamingResponse(
                self._event_stream(events),
                media_type="text/event-stream",
                headers={**headers, **SSE_HEADERS},
            )
        return JSONResponse(message_object(body, text, message_id), headers=headers)

    async def count_tokens(self, request: Request) -> Response:
        recorded = await self._record(request)
        return JSONResponse({"input_tokens": input_tokens(recorded.json)})

    async def chat(self, request: Request) -> Response:
        answer = await self._answer(request)
        if isinstance(answer, Response):
            return answer
        body, text = answer
        headers = {
            "x-request-id": f"req_{len(self.requests)}",
            "x-ratelimit-remaining-requests": "99",
        }
        if body.get("stream"):
            return StreamingResponse(
                self._stream(body, text),
                media_type="text/event-stream",
                headers={**headers, **SSE_HEADERS},
            )
        return JSONResponse(completion(body, text), headers=headers)

    async def _stream(self, body: dict[str, Any], text: str) -> AsyncIterator[bytes]:
        sent = bytearray()
        async for event in self._events(body, text):
            sent += event
            yield event
        self.sent_streams.append(bytes(sent))

    async def _events(self, body: dict[str, Any], text: str) -> AsyncIterator[bytes]:
        created = int(time.time())
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.get("model", "fake"),
            "system_fingerprint": None,
        }
        size = max(1, -(-len(text) // self.chunks))
        pieces = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        first = {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
        }
        yield f"data: {json.dumps(first)}\n\n".encode()
        for piece in pieces:
            chunk = {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": piece},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ],
            }
            yield f"data: {json.dumps(chunk)}\n\n".encode()
        last = {
            **base,
            "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
        }
        yield f"data: {json.dumps(last)}\n\n".encode()
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {**base, "choices": [], "usage": usage_of(body, text)}
            yield f"data: {json.dumps(usage)}\n\n".encode()
        if body.get("model") != "cut-stream":  # "cut-stream": the stream stops short of [DONE]
            yield b"data: [DONE]\n\n"

    async def models(self, request: Request) -> Response:
        await self._record(request)
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": "gpt-fake", "object": "model", "created": 0, "owned_by": "fake"}],
            }
        )

    async def embeddings(self, request: Request) -> Response:
        recorded = await self._record(request)
        inputs = recorded.json.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                    for i, _ in enumerate(items)
                ],
                "model": recorded.json.get("model"),
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        )

    async def echo(self, request: Request) -> Response:
        recorded = await self._record(request)
        return JSONResponse(
            {
                "path": recorded.path,
                "method": recorded.method,
                "query": recorded.query,
                "body_size": len(recorded.body),
            }
        )


def usage_of(body: dict[str, Any], text: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
    completion_tokens = max(1, len(text) // 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage_of(body, text),
        "system_fingerprint": None,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m testbed.fake_upstream --port N --answer TEXT`: the fake upstream in a process of
    its own (a load generator then shares no GIL with it), answering every chat with TEXT."""
    import uvicorn

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--answer", default="Sure, noted.")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks of a stream")
    args = parser.parse_args(argv)
    fake = FakeUpstream(reply=lambda body: args.answer, chunks=args.chunks, keep=32)
    uvicorn.run(fake.app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
