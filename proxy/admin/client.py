"""A small HTTP client for the memory management API of a running memory-proxy (httpx).

Every failure, from a refused connection to an error envelope, becomes one `AdminError` with a
message fit to show a person; httpx's exceptions are translated here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

__all__ = ["JSONL", "AdminClient", "AdminError"]

JSONL = "application/x-ndjson"
_LONG = httpx.Timeout(60.0, read=600.0)  # export and import: the server may work a while


class AdminError(Exception):
    """Something the user should read: an error answer from the proxy, or no answer at all."""


class AdminClient:
    def __init__(self, url: str, admin_key: str | None = None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {admin_key}"} if admin_key else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads ------------------------------------------------------------------------------

    def page(self, user_id: str, cursor: str | None = None, **filters: Any) -> dict[str, Any]:
        params = {"user_id": user_id, **_present(filters), **({"cursor": cursor} if cursor else {})}
        return self._json("GET", "/memories", params=params)

    def memories(self, user_id: str, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every memory of the user, following the pages."""
        cursor: str | None = None
        while True:
            page = self.page(user_id, cursor, **filters)
            yield from page["data"]
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return

    def search(self, user_id: str, query: str, k: int, **scope: str | None) -> list[dict[str, Any]]:
        body = {"user_id": user_id, "query": query, "k": k, **_present(scope)}
        return list(self._json("POST", "/memories/search", json=body)["data"])

    def get(self, memory_id: str) -> dict[str, Any]:
        return self._json("GET", f"/memories/{_path(memory_id)}")

    def history(self, memory_id: str) -> list[dict[str, Any]]:
        return list(self._json("GET", f"/memories/{_path(memory_id)}/history")["data"])

    def profile(self, user_id: str, agent_id: str | None = None) -> dict[str, Any]:
        params = _present({"user_id": user_id, "agent_id": agent_id})
        return self._json("GET", "/memories/profile", params=params)

    def stats(self) -> dict[str, Any]:
        return self._json("GET", "/memories/stats")

    # --- writes -----------------------------------------------------------------------------

    def delete(self, memory_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/memories/{_path(memory_id)}")

    def erase(self, user_id: str, session_id: str | None = None) -> dict[str, Any]:
        params = {"user_id": user_id, **_present({"session_id": session_id})}
        return self._json("DELETE", "/memories", params=params)

    # --- transfer ---------------------------------------------------------------------------

    def export_lines(self, user_id: str | None = None) -> Iterator[str]:
        """Lines of the export as they arrive. A stream cut short raises AdminError."""
        params = _present({"user_id": user_id})
        try:
            with self._http.stream("GET", "/memories/export", params=params, timeout=_LONG) as r:
                if r.is_error:
                    r.read()
                    raise AdminError(_problem(r))
                for line in r.iter_lines():
                    if line.strip():
                        yield line
        except httpx.HTTPError as exc:
            raise AdminError(f"export from {self.url} broke off: {_describe(exc)}") from exc

    def import_lines(
        self, chunks: Iterable[bytes], on_sent: Callable[[bytes], None] | None = None
    ) -> dict[str, Any]:
        """Upload JSONL as a stream; `on_sent` sees each chunk as it goes out."""

        def body() -> Iterator[bytes]:
            for chunk in chunks:
                yield chunk
                if on_sent is not None:
                    on_sent(chunk)

        return self._json(
            "POST",
            "/memories/import",
            content=body(),
            headers={"content-type": JSONL},
            timeout=_LONG,
        )

    # --- plumbing ---------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise AdminError(f"cannot reach memory-proxy at {self.url}: {_describe(exc)}") from exc
        if response.is_error:
            raise AdminError(_problem(response))
        body = response.json()
        if not isinstance(body, dict):
            raise AdminError(f"HTTP {response.status_code}: not a JSON object from {self.url}")
        return body


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _path(memory_id: str) -> str:
    return quote(memory_id, safe="")


def _describe(exc: httpx.HTTPError) -> str:
    return str(exc) or type(exc).__name__


def _problem(response: httpx.Response) -> str:
    """The message of an OpenAI-style error envelope, or the status line."""
    try:
        error = response.json()["error"]
        message = f"{error['message']} ({error.get('code') or error.get('type')})"
    except (ValueError, KeyError, TypeError):
        message = response.text[:200] or response.reason_phrase
    return f"HTTP {response.status_code}: {message}"
