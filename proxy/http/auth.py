"""Who may use the memory management routes: the admin key's holder, or, with no key set,
only clients on this machine; and, with `auth.user_keys`, which users an API key may act as on
the model routes (`check_user_key`).

Forwarded headers (`X-Forwarded-For`, ...) are never trusted: the decision uses the address of
the TCP peer only, so a reverse proxy in front of memory-proxy needs the admin key.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Mapping, Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from proxy.core.errors import Forbidden, Unauthorized
from proxy.deps import ServicesDep
from proxy.settings import Settings, UserKey, secret

__all__ = [
    "ADMIN_KEY_ENV",
    "authorize",
    "is_loopback",
    "key_matches",
    "require_admin",
    "warn_if_open",
]

log = logging.getLogger(__name__)

ADMIN_KEY_ENV = "MEMORY_PROXY_ADMIN_KEY"

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminKey",
    description=f"the value of {ADMIN_KEY_ENV}; not needed from loopback when it is unset",
)


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for names and anything else."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def key_matches(expected: str, given: str) -> bool:
    """Constant-time comparison (of bytes: a header may carry any latin-1 character)."""
    return hmac.compare_digest(expected.encode(), given.encode())


def authorize(admin_key: str | None, token: str | None, client_host: str | None) -> None:
    """Raise Unauthorized or Forbidden unless this caller may manage memories (pure)."""
    if admin_key is not None:
        if token is None:
            raise Unauthorized(
                "this route needs the admin key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not key_matches(admin_key, token):
            raise Unauthorized("the admin key is not valid", headers={"WWW-Authenticate": "Bearer"})
        return
    if not is_loopback(client_host):
        raise Forbidden(
            f"memory management is only open to loopback clients while {ADMIN_KEY_ENV} is unset;"
            " set it on the server to manage memories remotely",
            code="admin_key_not_configured",
        )


async def require_admin(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Route dependency for /memories/*."""
    host = request.client.host if request.client else None
    authorize(
        secret(services.settings.admin_key),
        credentials.credentials if credentials else None,
        host,
    )


def _client_key(headers: Mapping[str, str]) -> str | None:
    """The API key the call carries: `Authorization: Bearer ...` (OpenAI) or `x-api-key`
    (Anthropic)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip() or None


def _user_matches(patterns: Sequence[str], user_id: str) -> bool:
    return any(user_id.startswith(p[:-1]) if p.endswith("*") else user_id == p for p in patterns)


def check_user_key(user_keys: Sequence[UserKey], headers: Mapping[str, str], user_id: str) -> None:
    """With `auth.user_keys`, a call that names a user must carry a listed key whose users
    include that user (pure). Without it, the proxy believes whatever user the call names."""
    if not user_keys:
        return
    given = _client_key(headers)
    if given is None:
        raise Unauthorized(
            "this proxy binds users to API keys (auth.user_keys): send your key as"
            " 'Authorization: Bearer <key>'",
            code="user_key_required",
        )
    for entry in user_keys:
        if key_matches(entry.key.get_secret_value(), given):
            if _user_matches(entry.users, user_id):
                return
            raise Forbidden(
                "this API key may not act as that user (auth.user_keys)",
                code="user_not_allowed_for_key",
            )
    raise Unauthorized("the API key is not one of auth.user_keys", code="unknown_user_key")


def warn_if_open(settings: Settings) -> None:
    """Said once at start, so an operator knows how the management routes are guarded."""
    if settings.admin_key is None:
        log.warning(
            "%s is not set: /memories/* answers loopback clients only (no key needed from"
            " this machine); set it to require a Bearer key and allow remote management",
            ADMIN_KEY_ENV,
        )
