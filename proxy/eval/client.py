"""The eval's HTTP calls: chat completions (official openai SDK) to the upstream or through the
proxy, and the proxy's memory routes (httpx). Errors become one message per call."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
import openai

from proxy.core.errors import EvalError
from proxy.core.tokens import estimate_tokens
from proxy.eval.results import Answer

__all__ = ["ChatClient", "MemoryRoutes", "describe"]

# The SDK refuses to start without a key; a local upstream needs none.
NO_KEY = "no-key"


def describe(exc: BaseException) -> str:
    """One line for the report: the API's own message where there is one."""
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}"[:300]
    return (str(exc) or type(exc).__name__)[:300]


class ChatClient:
    """Chat completions against one OpenAI-compatible base URL (the upstream or the proxy)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        *,
        max_tokens: int | None,
        temperature: float | None,
        timeout_s: float = 300.0,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or NO_KEY, timeout=timeout_s, max_retries=2
        )

    async def ask(
        self, messages: Sequence[dict[str, str]], headers: dict[str, str] | None = None
    ) -> Answer:
        options: dict[str, Any] = {}
        if self.max_tokens is not None:
            options["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            options["temperature"] = self.temperature
        started = time.perf_counter()
        raw = await self._client.chat.completions.with_raw_response.create(
            model=self.model,
            messages=list(messages),  # type: ignore[arg-type]
            extra_headers=headers or {},
            **options,
        )
        elapsed = (time.perf_counter() - started) * 1000
        completion = raw.parse()
        text = (completion.choices[0].message.content or "") if completion.choices else ""
        usage = completion.usage
        count = raw.headers.get("x-memory-count")
        return Answer(
            text=text,
            prompt_tokens=usage.prompt_tokens if usage else _estimate(messages),
            completion_tokens=usage.completion_tokens if usage else estimate_tokens(text),
            latency_ms=elapsed,
            injected=int(count) if count and count.isdigit() else None,
        )

    async def close(self) -> None:
        await self._client.close()


def _estimate(messages: Sequence[dict[str, str]]) -> int:
    return sum(estimate_tokens(m.get("content") or "") + 4 for m in messages)


class MemoryRoutes:
    """The proxy's /memories routes the eval needs: write a setup conversation, flush, erase."""

    def __init__(self, proxy_url: str, admin_key: str | None) -> None:
        headers = {"Authorization": f"Bearer {admin_key}"} if admin_key else {}
        self.url = proxy_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=120.0)

    async def write(
        self,
        user_id: str,
        texts: Sequence[str],
        session_id: str | None,
        occurred_at: datetime | None,
    ) -> None:
        body: dict[str, Any] = {
            "user_id": user_id,
            "messages": [{"role": "user", "content": text} for text in texts],
        }
        if session_id:
            body["session_id"] = session_id
        if occurred_at is not None:
            body["occurred_at"] = occurred_at.isoformat()
        await self._call("POST", "/memories", json=body)

    async def flush(self, timeout_s: float = 600.0) -> None:
        await self._call(
            "POST", "/memories/flush", params={"timeout": timeout_s}, timeout=timeout_s + 30
        )

    async def erase(self, user_id: str) -> None:
        await self._call("DELETE", "/memories", params={"user_id": user_id})

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise EvalError(f"cannot reach the proxy at {self.url}: {describe(exc)}") from exc
        if response.is_error:
            raise EvalError(
                f"{method} {path} on the proxy answered {response.status_code}: "
                f"{response.text[:300]}"
            )
        return response.json()

    async def close(self) -> None:
        await self._http.aclose()
