"""Which requests the proxy admits before any route runs (pure): the media type of the bodies it
reads itself, browser origins and the Host on the memory routes.

A browser sends a cross-site POST with `text/plain`, form or no content type and no preflight,
and a page whose name was re-pointed at 127.0.0.1 (DNS rebinding) reaches a loopback-only server
with its own `Host`. So the routes whose bodies the proxy parses accept JSON only; the memory
routes refuse browser origins that are not configured, and, without an admin key, any `Host`
other than loopback or a configured name. Pass-through routes forward any content type untouched.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "JSONL_TYPES",
    "JSON_TYPES",
    "Refusal",
    "RouteKind",
    "admit",
    "host_name",
    "is_loopback_name",
    "media_type",
    "route_kind",
]

JSON_TYPES = frozenset({"application/json"})
# What JSONL is sent as in the wild (there is no registered type); JSON is one line of it.
JSONL_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/jsonl",
        "application/x-jsonl",
        "application/jsonlines",
        "application/x-jsonlines",
        "application/json-lines",
        "application/json",
    }
)
# Model routes whose JSON body the proxy reads to add or take memory (as they exist or appear).
MODEL_ROUTES = frozenset({"/v1/chat/completions", "/v1/responses", "/v1/messages"})
ANTHROPIC_ROUTES = frozenset({"/v1/messages"})
IMPORT_ROUTE = "/memories/import"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UTF8 = frozenset({"utf-8", "utf8"})


class RouteKind(Enum):
    MODEL = "model"  # chat and its siblings: JSON body read by the proxy
    MEMORY = "memory"  # /memories and below, /mcp: JSON (JSONL for import), same-origin only
    OTHER = "other"  # pass-through and the rest: admitted as they come


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    code: str
    type: str = "invalid_request_error"


def route_kind(path: str) -> RouteKind:
    if path in MODEL_ROUTES:
        return RouteKind.MODEL
    if path in ("/memories", "/mcp") or path.startswith("/memories/"):
        return RouteKind.MEMORY
    return RouteKind.OTHER


def media_type(content_type: str) -> tuple[str, dict[str, str]]:
    """`Application/JSON; charset=UTF-8` -> ("application/json", {"charset": "utf-8"})."""
    kind, _, rest = content_type.partition(";")
    params: dict[str, str] = {}
    for item in rest.split(";"):
        name, sep, value = item.partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"').lower()
    return kind.strip().lower(), params


def host_name(host: str) -> str:
    """The name of a Host header without its port: "[::1]:8080" -> "::1"."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def is_loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True  # browsers resolve these themselves, never through DNS (RFC 6761)
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _has_body(method: str, headers: Mapping[str, str]) -> bool:
    if method not in BODY_METHODS:
        return False
    if "transfer-encoding" in headers:
        return True
    length = headers.get("content-length", "").strip()
    return bool(length) and length != "0"


def _media_refusal(path: str, headers: Mapping[str, str]) -> Refusal | None:
    accepted = JSONL_TYPES if path == IMPORT_ROUTE else JSON_TYPES
    kind, params = media_type(headers.get("content-type", ""))
    charset = params.get("charset")
    if kind in accepted and (charset is None or charset in UTF8):
        return None
    wanted = "application/x-ndjson" if path == IMPORT_ROUTE else "application/json"
    given = headers.get("content-type") or "none"
    return Refusal(
        415,
        f"this route reads a {wanted} body (UTF-8); the request's Content-Type is {given}",
        "unsupported_media_type",
    )


def _origin_refusal(
    headers: Mapping[str, str], scheme: str, allowed_origins: Collection[str]
) -> Refusal | None:
    origin = headers.get("origin")
    fetch_site = headers.get("sec-fetch-site", "").strip().lower()
    if origin is not None:
        origin = origin.strip().lower().rstrip("/")
        own = f"{scheme}://{headers.get('host', '').strip().lower()}"
        if origin in allowed_origins:
            return None
        if origin == own and fetch_site in ("", "same-origin"):
            return None  # the proxy's own pages (/docs)
    elif fetch_site not in ("cross-site", "same-site"):
        return None  # not a browser, or a navigation the user typed
    return Refusal(
        403,
        "memory routes do not answer requests from other web pages; add the page's origin to"
        " auth.allowed_origins to allow it",
        "cross_site_request",
        "permission_error",
    )


def _host_refusal(headers: Mapping[str, str], allowed_hosts: Collection[str]) -> Refusal | None:
    host = headers.get("host")
    if host is None:
        return None  # HTTP/1.0 without Host: not what a browser sends
    name = host_name(host)
    if is_loopback_name(name) or name in allowed_hosts:
        return None
    return Refusal(
        400,
        f"the Host {host!r} is not this machine; without an admin key the memory routes answer"
        " only requests addressed to loopback or a name in auth.allowed_hosts",
        "invalid_host",
    )


def admit(
    method: str,
    path: str,
    headers: Mapping[str, str],
    *,
    scheme: str = "http",
    admin_key_set: bool,
    peer_is_loopback: bool = True,
    allowed_origins: Collection[str] = (),
    allowed_hosts: Collection[str] = (),
) -> Refusal | None:
    """None when the request may go on to its route; else why not. `headers` are lower-case.
    The Host rule guards loopback peers (DNS rebinding); without an admin key any other peer
    is refused by the route's own check (proxy/http/auth.py)."""
    kind = route_kind(path)
    if kind is RouteKind.OTHER:
        return None
    if kind is RouteKind.MEMORY:
        refusal = _origin_refusal(headers, scheme, allowed_origins)
        if refusal is None and not admin_key_set and peer_is_loopback:
            refusal = _host_refusal(headers, allowed_hosts)
        if refusal is not None:
            return refusal
    if _has_body(method, headers):
        return _media_refusal(path, headers)
    return None
