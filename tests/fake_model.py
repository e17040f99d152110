"""A loopback "model" that answers from what it sees, for the eval tests, and a fake judge.

It answers a question with the line it was shown that shares the most content words with the
question: a memory line of the proxy's block ("- [date] text") or an earlier message of the
conversation; on a tie, the first one seen. With nothing related in view it says "I don't
know." So it is only as right as what reaches it, which is what an eval of memory measures.

Model "fake-judge" grades instead (the judge rubric's JSON in, a JSON verdict out): correct when
every expected keyword is in the answer (or it abstains when it should, or it mentions the
preference's key word for `follows`), forbidden when a forbidden keyword is.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_WORD = re.compile(r"\w+")
_MEMORY_LINE = re.compile(r"^- (?:\[\d{4}-\d{2}-\d{2}\] )?(.+)$", re.MULTILINE)
_STOP = frozenset(
    "a an the and or of to in on at for with is are was be do does did i me my you your what "
    "which who where when how these those this that am can keeping about".split()
)
DONT_KNOW = "I don't know."


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


_BLOCK = re.compile(r"<memories>.*?</memories>", re.DOTALL)


def answer_from_view(messages: list[dict[str, Any]]) -> str:
    """The memory line (wherever the proxy put it: the system message, or the start of the
    user's message) or earlier message that best matches the question, else "I don't know"."""
    candidates: list[str] = []
    for message in messages:
        text = _text(message.get("content"))
        for block in _BLOCK.findall(text):
            candidates += _MEMORY_LINE.findall(block)
    question = _BLOCK.sub("", _text(messages[-1].get("content"))).strip()
    for message in messages[:-1]:
        if message.get("role") not in ("system", "developer"):
            candidates.append(_BLOCK.sub("", _text(message.get("content"))).strip())
    wanted = words(question)
    best, best_score = None, 0
    for line in candidates:
        score = len(wanted & words(line))
        if score > best_score:
            best, best_score = line, score
    return best if best is not None else DONT_KNOW


def judge(messages: list[dict[str, Any]]) -> str:
    shown = json.loads(_text(messages[-1]["content"]))
    answer = shown["answer"].lower()
    expected, forbidden = shown["expected"], shown["forbidden"]
    correct = True
    for keyword in expected.get("keywords", []):
        options = [keyword] if isinstance(keyword, str) else keyword
        correct &= any(option.lower() in answer for option in options)
    if expected.get("abstain"):
        correct &= "don't know" in answer
    if expected.get("follows"):
        key = max(words(expected["follows"].split("(")[0]), key=len)
        correct &= key in answer
    claimed = [k for k in forbidden.get("keywords", []) if k.lower() in answer]
    verdict = {
        "correct": correct,
        "forbidden": bool(claimed),
        "reason": f"fake judge: {'right' if correct else 'wrong'}"
        + (f", claims {', '.join(claimed)}" if claimed else ""),
    }
    return f"```json\n{json.dumps(verdict)}\n```"


class FakeModel:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        # A question containing this word is answered 500 (an outage mid-run); None: never.
        self.fail_on: str | None = None
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    def asked(self, model: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("model") == model]

    def questions(self) -> list[str]:
        """The last user message of every request (its memory block left out), in order."""
        return [
            _BLOCK.sub("", _text(r["messages"][-1].get("content"))).strip() for r in self.requests
        ]

    async def chat(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append({**body, "headers": dict(request.headers)})
        messages = body["messages"]
        if self.fail_on and self.fail_on in _text(messages[-1].get("content")):
            error = {"message": "overloaded", "type": "server_error", "code": None}
            return JSONResponse({"error": error}, status_code=500)
        text = judge(messages) if body.get("model") == "fake-judge" else answer_from_view(messages)
        prompt = sum(len(_text(m.get("content"))) for m in messages) // 4 + 1
        completion = len(text) // 4 + 1
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )


if __name__ == "__main__":  # python -m tests.fake_model --port 8001 (the README's worked example)
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="serve the loopback fake model")
    parser.add_argument("--port", type=int, default=8001)
    uvicorn.run(
        FakeModel().app, host="127.0.0.1", port=parser.parse_args().port, log_level="warning"
    )
