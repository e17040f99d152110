"""What the proxy's own calls (extraction, embeddings) are sent to, and the checks at start that
say so when a call could only fail: without them, a missing key shows only in /healthz
counters, turn after turn, while extraction quietly falls back to the offline rules."""

from __future__ import annotations

import logging

from proxy.core.routing import CallTarget, RouteTable, chat_model, provider_of, resolve_target
from proxy.llm import litellm
from proxy.settings import RouteSettings, Settings, secret

__all__ = [
    "embedding_target",
    "extraction_target",
    "needs_litellm",
    "upstream_warnings",
    "warm_up",
]

log = logging.getLogger(__name__)
_FALLBACK = (
    "every extraction call will fail and fall back to the offline rules, which only /healthz "
    "shows (memory.extraction.llm_call_failures)"
)


def extraction_target(settings: Settings, routes: RouteTable[RouteSettings]) -> CallTarget | None:
    config = settings.extraction
    if not config.model:
        return None
    return resolve_target(
        config.model,
        routes,
        api_base=config.api_base,
        api_key=secret(config.api_key),
        upstream_url=settings.upstream_url,
        upstream_key=secret(settings.upstream_api_key),
        chat=True,
    )


def embedding_target(settings: Settings, routes: RouteTable[RouteSettings]) -> CallTarget | None:
    if settings.embedder != "litellm" or not settings.embedding_model:
        return None
    return resolve_target(
        settings.embedding_model,
        routes,
        api_base=settings.embedding_api_base,
        api_key=secret(settings.embedding_api_key),
        upstream_url=settings.upstream_url,
        upstream_key=secret(settings.upstream_api_key),
        chat=False,
    )


def needs_litellm(settings: Settings) -> bool:
    return bool(settings.routes) or bool(settings.extraction.model)


def upstream_warnings(settings: Settings, target: CallTarget | None) -> list[str]:
    """What can be told without litellm: extraction at the upstream with no key at all."""
    if target is None or target.api_key or settings.extraction.use_client_key:
        return []
    if target.via != "upstream":
        return []
    return [
        f"extraction by {target.model} at {target.api_base} carries no key (set "
        f"extraction.api_key or upstream_api_key); if the upstream needs one, {_FALLBACK}"
    ]


def warm_up(settings: Settings, target: CallTarget | None) -> None:
    """Blocking (run in a thread at start): import litellm, so that the first routed call or
    extraction does not wait 2-3 s for it, then check what only litellm knows: whether the
    extraction model's provider exists, and whether a key it needs is missing."""
    module = litellm()
    for route in settings.routes:
        try:
            module.get_llm_provider(model=chat_model(route.litellm_model.replace("*", "x")))
        except Exception:
            log.error(
                "route %s: litellm knows no provider for %s; its calls will fail",
                route.model,
                route.litellm_model,
            )
        if route.api_key is None:
            log.info(
                "route %s: no api_key; each client's own bearer token is sent to %s",
                route.model,
                provider_of(route.litellm_model) or route.litellm_model,
            )
    if target is None or target.via == "upstream":
        return
    try:
        module.get_llm_provider(model=target.model)
    except Exception:
        log.warning(
            "extraction model %s: litellm knows no such provider; %s", target.model, _FALLBACK
        )
        return
    if target.api_key or settings.extraction.use_client_key:
        return
    found = module.validate_environment(model=target.model, api_base=target.api_base)
    missing = [name for name in found.get("missing_keys", []) if not name.endswith("_API_BASE")]
    if missing:
        log.warning(
            "extraction model %s (%s) has no key: set extraction.api_key (os.environ/NAME works) "
            "or %s; until then %s",
            target.model,
            target.via,
            " or ".join(missing),
            _FALLBACK,
        )
