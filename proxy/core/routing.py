"""Which model serves a request: the config file's routes, matched by model name (pure).

A route names a model exactly (`claude-fast`) or with `*` wildcards (`claude-*`, `anthropic/*`);
an exact name wins over a pattern, and among patterns the first listed wins. Each `*` in the
route's `litellm_model` is filled with what the corresponding `*` of its `model` matched, so
`{model: "claude-*", litellm_model: "anthropic/claude-*"}` sends `claude-opus-4` to
`anthropic/claude-opus-4`. A name no route matches is not ours: it goes to the upstream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import SecretStr

__all__ = [
    "CallTarget",
    "RouteMatch",
    "RouteSpec",
    "RouteTable",
    "chat_model",
    "provider_of",
    "resolve_target",
]


class RouteSpec(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def litellm_model(self) -> str: ...
    @property
    def api_base(self) -> str | None: ...
    @property
    def api_key(self) -> SecretStr | None: ...
    @property
    def params(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=RouteSpec)


@dataclass(frozen=True)
class RouteMatch(Generic[R]):
    route: R
    litellm_model: str  # the route's litellm_model with its wildcards filled in


def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile("(.*?)".join(re.escape(part) for part in glob.split("*")) + r"\Z", re.DOTALL)


class RouteTable(Generic[R]):
    def __init__(self, routes: Sequence[R]) -> None:
        self.routes = list(routes)
        self._exact: dict[str, R] = {}
        self._patterns: list[tuple[re.Pattern[str], R]] = []
        for route in self.routes:
            if "*" in route.model:
                self._patterns.append((_pattern(route.model), route))
            else:
                self._exact.setdefault(route.model, route)

    def __bool__(self) -> bool:
        return bool(self.routes)

    def match(self, model: object) -> RouteMatch[R] | None:
        """The route serving `model`, or None (then the upstream does)."""
        if not isinstance(model, str) or not self.routes:
            return None
        exact = self._exact.get(model)
        if exact is not None:
            return RouteMatch(exact, exact.litellm_model)
        for pattern, route in self._patterns:
            found = pattern.match(model)
            if found is not None:
                return RouteMatch(route, _fill(route.litellm_model, found.groups()))
        return None

    def names(self) -> list[str]:
        """The models routes name exactly (a pattern names no model a client could list)."""
        return list(self._exact)


def _fill(template: str, captures: Sequence[str]) -> str:
    parts = template.split("*")
    filled = [parts[0]]
    for capture, part in zip(captures, parts[1:], strict=False):
        filled += [capture, part]
    return "".join(filled)


def provider_of(litellm_model: str) -> str | None:
    """The litellm provider prefix (`anthropic` of `anthropic/claude-...`), None for a bare name."""
    provider, slash, _ = litellm_model.partition("/")
    return provider if slash else None


def chat_model(litellm_model: str) -> str:
    """The model string for a chat call. `ollama/<m>` goes to Ollama's `/api/chat` (litellm's
    `ollama_chat/`): its `ollama/` provider flattens the conversation into one `/api/generate`
    prompt, where the system message (and the memory block in it) is no longer a system
    message."""
    if provider_of(litellm_model) == "ollama":
        return "ollama_chat/" + litellm_model.removeprefix("ollama/")
    return litellm_model


@dataclass(frozen=True)
class CallTarget:
    """Where a call the proxy makes itself (extraction, embeddings) goes."""

    model: str
    api_base: str | None
    api_key: str | None = field(repr=False)
    params: Mapping[str, Any] = field(default_factory=dict)
    via: str = "upstream"  # "route <name>" | "upstream" | "provider <name>", for logs


def resolve_target(
    model: str,
    routes: RouteTable[Any],
    *,
    api_base: str | None,
    api_key: str | None,
    upstream_url: str,
    upstream_key: str | None,
    chat: bool,
) -> CallTarget:
    """`model` is a route's name, a model of the upstream (a bare name or `openai/<name>`: it
    goes where unrouted chat goes), or a litellm string for another provider, which then gets
    the provider's own URL and key, never the upstream's (an Ollama model must not be asked for
    at `<upstream_url>/api/generate`, nor an OpenAI key sent to Anthropic). `api_base` and
    `api_key` given explicitly win in every case."""
    match = routes.match(model)
    if match is not None:
        route = match.route
        key = route.api_key.get_secret_value() if route.api_key is not None else None
        return CallTarget(
            chat_model(match.litellm_model) if chat else match.litellm_model,
            api_base or route.api_base,
            api_key or key,
            dict(route.params),
            via=f"route {route.model}",
        )
    provider = provider_of(model)
    if provider is None or provider == "openai":
        return CallTarget(
            model if provider else f"openai/{model}",
            api_base or upstream_url,
            api_key or upstream_key,
        )
    return CallTarget(
        chat_model(model) if chat else model, api_base, api_key, via=f"provider {provider}"
    )
