"""What the URL says about scope (pure): a base URL that carries the user, `/u/{user_id}/v1/...`,
and the query string forwarded upstream, which never carries our `user_id`.

The user rides in a path segment because the SDKs append their routes to the base URL as a path:
a base URL with a query string (`.../v1?user_id=x`) becomes `.../v1/?user_id=x/chat/completions`.
"""

from __future__ import annotations

from urllib.parse import unquote, unquote_to_bytes

__all__ = ["USER_PREFIX", "decoded_path", "forwarded_query", "split_user_path"]

USER_PREFIX = b"/u/"
QUERY_USER = "user_id"


def split_user_path(raw_path: bytes) -> tuple[str, bytes] | None:
    """`/u/{id}/v1/rest` -> (id, b"/v1/rest"); None for any other path.

    Split on the raw bytes, so an id with an encoded slash (`a%2Fb`) stays one segment. The id is
    percent-decoded as UTF-8; bytes that are not UTF-8 become lone surrogates, which the id check
    refuses (a clear 400, not another user's id)."""
    if not raw_path.startswith(USER_PREFIX):
        return None
    segment, slash, rest = raw_path[len(USER_PREFIX) :].partition(b"/")
    if not slash or not (rest == b"v1" or rest.startswith(b"v1/")):
        return None
    user_id = unquote_to_bytes(segment).decode("utf-8", errors="surrogateescape")
    return user_id, b"/" + rest


def decoded_path(raw_path: bytes) -> str:
    """The ASGI `path` for a raw path, decoded as servers decode it (percent escapes as UTF-8)."""
    return unquote(raw_path.decode("latin-1"))


def forwarded_query(query: str) -> str:
    """The query string without `user_id` (our scope, never the upstream's business); every other
    parameter stays exactly as the client wrote it, in its order."""
    if QUERY_USER not in query:
        return query  # the common case costs one substring test
    kept = [
        part
        for part in query.split("&")
        if unquote(part.partition("=")[0].replace("+", " ")) != QUERY_USER
    ]
    return "&".join(kept)
