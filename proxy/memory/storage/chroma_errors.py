"""What a chromadb exception means: the store is out of reach (retry later), or the call itself
was wrong (a bug, which must surface as itself with its traceback).

Measured on chromadb 1.5.9 (embedded and `chroma run` server):
- embedded store, files damaged or replaced by junk: `InternalError("... (code: 26) file is not
  a database")`; folder deleted: `(code: 14) unable to open database file`; folder moved away
  under an open client: writes fail with `(code: 1032) attempt to write a readonly database`;
- a collection deleted under us (another client, a wiped server): `NotFoundError`;
- a server that is down: `httpx.ConnectError` (at connect: a `ValueError` raised while handling
  it); a load balancer's 5xx page: a bare `Exception` raised while handling an
  `httpx.HTTPStatusError`;
- a wrong call: `ValueError` (bad `where`, unequal lengths), `InvalidArgumentError` (vector
  dimension), `TypeError`."""

from __future__ import annotations

import re

import httpx

__all__ = ["is_outage"]

# SQLite primary result codes (the low byte of an extended code) that say the file, not the
# statement, is the problem: BUSY, LOCKED, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB.
SQLITE_STORAGE_CODES = frozenset({5, 6, 8, 10, 11, 13, 14, 26})
_SQLITE_CODE = re.compile(r"\(code: (\d+)\)")
_OS_ERROR = re.compile(r"\(os error \d+\)")  # how chromadb's Rust core reports an io::Error


def is_outage(exc: BaseException) -> bool:
    """Whether a failed chromadb call means the store cannot be reached or read right now: a
    server down or answering 5xx, files missing, locked, read-only or damaged, a collection
    deleted under us. The exception's causes are looked at too (chromadb re-raises some)."""
    from chromadb.errors import InternalError, NotFoundError, RateLimitError

    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError | httpx.TransportError | NotFoundError | RateLimitError):
            return True
        if isinstance(error, httpx.HTTPStatusError) and error.response.status_code >= 500:
            return True
        if isinstance(error, InternalError) and _storage_failure(str(error)):
            return True
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return False


def _storage_failure(message: str) -> bool:
    codes = (int(code) & 0xFF for code in _SQLITE_CODE.findall(message))
    return any(code in SQLITE_STORAGE_CODES for code in codes) or bool(_OS_ERROR.search(message))
