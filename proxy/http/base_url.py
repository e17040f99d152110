"""A base URL that carries the user: `/u/{user_id}/v1/...` is served as `/v1/...` for that user,
on every /v1 route (chat, Responses, Messages, pass-through). This is what makes memory work with
no code: `OPENAI_BASE_URL=http://proxy/u/alice/v1`, `ANTHROPIC_BASE_URL=http://proxy/u/alice`.

A plain ASGI middleware (no per-request cost beyond a prefix test for other paths). It only
rewrites the path and leaves the id where routes find it (`forward.path_user`): the id is
checked with the other scope sources, inside the route, so a bad one gets the route's own 400
envelope."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from proxy.core.paths import USER_PREFIX, decoded_path, split_user_path
from proxy.http.forward import PATH_USER_KEY

__all__ = ["UserBaseUrl"]


class UserBaseUrl:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/u/"):
            raw = scope.get("raw_path") or scope["path"].encode()
            split = split_user_path(raw) if raw.startswith(USER_PREFIX) else None
            if split is not None:
                user_id, rest = split
                scope = {
                    **scope,
                    "path": decoded_path(rest),
                    "raw_path": rest,
                    PATH_USER_KEY: user_id,
                }
        await self.app(scope, receive, send)
