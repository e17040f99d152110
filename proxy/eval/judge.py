"""The judge model, called through litellm (any provider: `gpt-4.1-mini`, `anthropic/...`,
`openai/<name>` with an api_base for any OpenAI-compatible server)."""

from __future__ import annotations

import logging
from typing import Any

from proxy.core.errors import JudgeParseError
from proxy.eval.cases import Probe
from proxy.eval.client import NO_KEY
from proxy.eval.rubric import JudgeVerdict, judge_messages, parse_verdict
from proxy.llm import litellm

__all__ = ["Judge"]

log = logging.getLogger(__name__)


class Judge:
    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        self.model = model
        self.api_base = api_base
        self.api_key = api_key
        self.timeout_s = timeout_s

    async def verdict(self, probe: Probe, answer: str) -> JudgeVerdict:
        """One retry on an unreadable verdict; a second one raises JudgeParseError."""
        messages = judge_messages(probe, answer)
        for attempt in (1, 2):
            text = await self._complete(messages)
            try:
                return parse_verdict(text)
            except JudgeParseError as exc:
                if attempt == 2:
                    raise
                log.warning("judge verdict unreadable, asking again: %s", exc)
        raise AssertionError("unreachable")

    async def _complete(self, messages: list[dict[str, str]]) -> str:
        options: dict[str, Any] = {"temperature": 0, "timeout": self.timeout_s}
        if self.api_base:
            options["api_base"] = self.api_base
            # A judge at its own base URL gets its own key or none: the provider's variable
            # (OPENAI_API_KEY, ...) belongs to the provider, not to this server.
            options["api_key"] = self.api_key or NO_KEY
        elif self.api_key:
            options["api_key"] = self.api_key
        response = await litellm().acompletion(model=self.model, messages=messages, **options)
        return str(response.choices[0].message.content or "")
