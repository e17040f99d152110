"""GET /memories/export and POST /memories/import: memories as JSONL, one `MemoryOut` a line.

Both stream: an export of every user never sits in memory at once, and an import is stored in
batches as it arrives. Import keeps ids, so running it again changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import StreamingResponse

from proxy.core.errors import InvalidRequest
from proxy.core.records import Memory
from proxy.core.scope import validate_id
from proxy.deps import Services, ServicesDep
from proxy.http.memories.access import blocking, memory_of
from proxy.http.memories.schemas import ImportedMemory, ImportResult, MemoryOut
from proxy.memory.admin import ImportCounts, exportable, import_memories

__all__ = [
    "IMPORT_BATCH",
    "JSONL",
    "MAX_LINE_BYTES",
    "export_memories",
    "import_jsonl",
    "ndjson_lines",
    "parse_line",
    "router",
]

router = APIRouter()

JSONL = "application/x-ndjson"
IMPORT_BATCH = 256
MAX_LINE_BYTES = 1 << 20

_LINE_SCHEMA: dict[str, Any] = MemoryOut.model_json_schema(
    ref_template="#/components/schemas/{model}"
)


async def ndjson_lines(
    chunks: AsyncIterator[bytes], max_line: int = MAX_LINE_BYTES
) -> AsyncIterator[tuple[int, bytes]]:
    """(line number, line) for every non-blank line of a byte stream."""
    pending = b""
    number = 0
    async for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            number += 1
            if line.strip():
                yield number, line
        if len(pending) > max_line:
            raise InvalidRequest(
                f"line {number + 1} is longer than {max_line} bytes", code="invalid_import_line"
            )
    if pending.strip():
        yield number + 1, pending


def parse_line(number: int, line: bytes) -> Memory:
    try:
        return ImportedMemory.model_validate_json(line).to_memory()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        problem = f"{where}: {first['msg']}" if where else first["msg"]
        raise InvalidRequest(f"line {number}: {problem}", code="invalid_import_line") from None


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {"description": "one memory per line", "content": {JSONL: {"schema": _LINE_SCHEMA}}}
    },
)
async def export_memories(
    services: ServicesDep,
    user_id: Annotated[str | None, Query(description="only this user's memories")] = None,
) -> StreamingResponse:
    """Every unexpired memory (superseded ones too, they carry history) as JSONL."""
    memory = memory_of(services)
    user = None if user_id is None else validate_id(user_id, "user_id")
    pages = exportable(memory, user)
    first = await blocking(services, lambda _: next(pages, None))  # store errors: a 503 here

    async def body() -> AsyncIterator[bytes]:
        page = first
        while page is not None:
            yield "".join(MemoryOut.of(m).model_dump_json() + "\n" for m in page).encode()
            page = await _next(pages)

    filename = "memories.jsonl" if user is None else "memories-user.jsonl"
    return StreamingResponse(
        body(),
        media_type=JSONL,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _next(pages: Iterator[list[Memory]]) -> list[Memory] | None:
    return await asyncio.to_thread(next, pages, None)


@router.post(
    "/import",
    response_model=ImportResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "JSONL as /memories/export writes it",
            "content": {JSONL: {"schema": _LINE_SCHEMA}},
        }
    },
)
async def import_jsonl(request: Request, services: ServicesDep) -> ImportResult:
    """Store memories exactly as exported (ids, scopes, times, status). Idempotent by id. Lines
    are stored in batches as they arrive: after a bad line the earlier ones stay imported, and
    running the import again once the line is fixed is safe."""
    memory_of(services)
    totals = ImportCounts()
    read = 0
    batch: list[Memory] = []
    try:
        async for number, line in ndjson_lines(request.stream()):
            batch.append(parse_line(number, line))
            read += 1
            if len(batch) >= IMPORT_BATCH:
                totals = _sum(totals, await _store(services, batch))
                batch = []
    except InvalidRequest as exc:
        await _store(services, batch)
        exc.message += f"; the {read} lines before it were imported (importing again is safe)"
        raise
    totals = _sum(totals, await _store(services, batch))
    return ImportResult(imported=read, **asdict(totals))


async def _store(services: Services, batch: list[Memory]) -> ImportCounts:
    if not batch:
        return ImportCounts()
    return await blocking(services, lambda memory: import_memories(memory, batch))


def _sum(a: ImportCounts, b: ImportCounts) -> ImportCounts:
    return ImportCounts(a.added + b.added, a.updated + b.updated, a.unchanged + b.unchanged)
