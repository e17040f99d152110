"""Who may use the memory management routes: the admin key's holder, or, with no key set,
only clients on this machine. Chat traffic never passes through here.

Forwarded headers (`X-Forwarded-For`, ...) are never trusted: the decision uses the address of
the TCP peer only, so a reverse proxy in front of memory-proxy needs the admin key.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from proxy.core.errors import Forbidden, Unauthorized
from proxy.deps import ServicesDep
from proxy.settings import Settings, secret

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


def warn_if_open(settings: Settings) -> None:
    """Said once at start, so an operator knows how the management routes are guarded."""
    if settings.admin_key is None:
        log.warning(
            "%s is not set: /memories/* answers loopback clients only (no key needed from"
            " this machine); set it to require a Bearer key and allow remote management",
            ADMIN_KEY_ENV,
        )
