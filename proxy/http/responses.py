"""POST /v1/responses (the Responses API): scope, retrieve, place the blocks in `instructions`
and the new input, forward, and write back after the answer. Every other /v1/responses/... call
(retrieve, delete, input_items, cancel) passes through untouched."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from proxy.core.responses import ResponsesAnswer, answer_of, place_blocks, read_turn
from proxy.core.scope import resolve_scope
from proxy.deps import ServicesDep
from proxy.http.forward import Turn, WireFormat, forward_turn, path_user
from proxy.http.turn import encode_body, parse_body, read_body, recall

router = APIRouter()
RESPONSES = WireFormat(answer_of=answer_of, stream=ResponsesAnswer, end="response.completed")


@router.post("/v1/responses")
async def create_response(request: Request, services: ServicesDep) -> Response:
    raw = await read_body(request, services.settings.max_body_bytes)
    body = parse_body(raw)
    read = read_turn(body)
    request_scope = resolve_scope(request.headers, body, request.query_params, path_user(request))
    result = await recall(services, request_scope, read.query)
    if result.system_block is not None or result.turn_block is not None:
        raw = encode_body(place_blocks(body, result.system_block, result.turn_block))
    turn = Turn(request_scope, read.new_turn, result)
    upstream = services.upstream
    return await forward_turn(services, upstream, request, "responses", raw, turn, RESPONSES)
