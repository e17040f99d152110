"""POST /v1/messages (Anthropic's Messages API, to the Anthropic upstream): scope, retrieve, join
the block to `system` and the new turn, forward, and write back after the answer. Errors on this
route are Anthropic's envelope (proxy/app.py picks it by route)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from proxy.core.anthropic import (
    MessagesAnswer,
    answer_of,
    conversation_view,
    new_user_turn,
    place_blocks,
    query_text,
    validate_request,
)
from proxy.deps import ServicesDep
from proxy.http.forward import Turn, WireFormat, forward_turn, scope_of
from proxy.http.turn import encode_body, parse_body, read_body, recall

__all__ = ["MESSAGES", "create_message", "router"]

router = APIRouter()
MESSAGES = WireFormat(answer_of=answer_of, stream=MessagesAnswer, end="message_stop")


@router.post("/v1/messages")
async def create_message(request: Request, services: ServicesDep) -> Response:
    raw = await read_body(request, services.settings.max_body_bytes)
    body = parse_body(raw)
    messages = validate_request(body)
    request_scope = scope_of(request, services, body)
    result = await recall(
        services, request_scope, query_text(messages), conversation_view(messages)
    )
    if result.changes:
        placed = place_blocks(body, messages, result.system_block, result.turn_blocks())
        raw = encode_body(placed)
    turn = Turn(request_scope, new_user_turn(messages), result)
    return await forward_turn(
        services, services.anthropic, request, "v1/messages", raw, turn, MESSAGES
    )
