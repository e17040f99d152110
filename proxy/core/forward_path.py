"""The upstream path of a pass-through request, which must stay under the upstream's base (pure).

`POST /v1/../internal/admin` (or `%2e%2e`, `..%2f`) once reached the upstream at
`/internal/admin` with the operator's key attached: the server hands the route a decoded path,
and the HTTP client resolves dot segments again. So the path is taken from the raw bytes the
client sent, dot segments are resolved here, a path that climbs out of the base is refused, and
encoded slashes and backslashes (which servers disagree about) are refused outright.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from proxy.core.errors import InvalidRequest

__all__ = ["upstream_path"]

_ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c)|\\", re.IGNORECASE)


def _refuse(why: str) -> InvalidRequest:
    return InvalidRequest(f"invalid path: {why}", param="path", code="invalid_path")


def upstream_path(raw_path: str, prefix: str = "/v1/") -> str:
    """The part of `raw_path` (still percent-encoded) after `prefix`, dot segments resolved,
    as it is sent upstream (appended to the base URL). Raises InvalidRequest (400)."""
    if not raw_path.startswith(prefix):
        raise _refuse(f"it must start with {prefix}")
    rest = raw_path[len(prefix) :]
    if _ENCODED_SEPARATOR.search(rest):
        raise _refuse("encoded slashes and backslashes are not forwarded")
    kept: list[str] = []
    segments = rest.split("/")
    for position, segment in enumerate(segments):
        decoded = unquote(segment)
        if decoded == ".":
            if position == len(segments) - 1:
                kept.append("")  # "a/." is the directory "a/"
            continue
        if decoded == "..":
            if not kept:
                raise _refuse(f"it climbs out of {prefix}")
            kept.pop()
            if position == len(segments) - 1:
                kept.append("")
            continue
        kept.append(segment)
    return "/".join(kept)
