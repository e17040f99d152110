"""POST /v1/responses (the Responses API): scope, retrieve, place the blocks in `instructions`
and the new input, forward, and write back after the answer. Every other /v1/responses/... call
(retrieve, delete, input_items, cancel) passes through untouched."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from proxy.core.responses import (
    ResponsesAnswer,
    answer_of,
    conversation_of,
    has_user_message,
    place_blocks,
    read_turn,
)
from proxy.core.responses_args import check_routed_responses
from proxy.deps import ServicesDep
from proxy.http import routed_responses
from proxy.http.forward import Turn, WireFormat, forward_turn, scope_of
from proxy.http.turn import encode_body, parse_body, read_body, recall

__all__ = ["RESPONSES", "create_response", "router"]

router = APIRouter()
RESPONSES = WireFormat(answer_of=answer_of, stream=ResponsesAnswer, end="response.completed")


@router.post("/v1/responses")
async def create_response(request: Request, services: ServicesDep) -> Response:
    raw = await read_body(request, services.settings.max_body_bytes)
    body = parse_body(raw)
    read = read_turn(body)
    request_scope = scope_of(request, services, body)
    route = services.routes.match(body.get("model"))
    if route is not None:
        check_routed_responses(body)  # no server-held history behind a route; valid input only
    conversation = conversation_of(body)
    result = await recall(
        services, request_scope, read.query, conversation, carries_turn=has_user_message(body)
    )
    if result.changes:
        # With a resent conversation recall gives every block its index (those of earlier
        # requests come back where they were); with a server-held history, only this turn's.
        placed = (
            place_blocks(body, result.system_block, result.turn_blocks())
            if conversation is not None
            else place_blocks(body, result.system_block, {}, result.turn_block)
        )
        body = placed
    turn = Turn(request_scope, read.new_turn, result)
    # Everything above is the same for both paths; only the forwarding step differs.
    if route is not None:
        return await routed_responses.forward(services, request, turn, body, route)
    raw = encode_body(body) if result.changes else raw  # else: the bytes as they came
    upstream = services.upstream
    return await forward_turn(services, upstream, request, "responses", raw, turn, RESPONSES)
