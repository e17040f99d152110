"""POST /v1/chat/completions: scope, retrieve, inject, forward (to the upstream, or to a route's
model through litellm), and write back after the answer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from proxy.core.chat_request import check_routed_request
from proxy.core.conversation import new_user_turn, query_text, validate_messages
from proxy.core.inject import inject
from proxy.core.sse import AnswerAssembler, answer_of
from proxy.deps import ServicesDep
from proxy.http import routed
from proxy.http.forward import Turn, WireFormat, forward_turn, scope_of
from proxy.http.turn import encode_body, parse_body, read_body, recall

__all__ = ["router"]

router = APIRouter()
CHAT = WireFormat(answer_of=answer_of, stream=AnswerAssembler, end="[DONE]")


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, services: ServicesDep) -> Response:
    raw = await read_body(request, services.settings.max_body_bytes)
    body = parse_body(raw)
    messages = validate_messages(body)
    request_scope = scope_of(request, services, body)
    route = services.routes.match(body.get("model"))
    if route is not None:
        check_routed_request(body, messages)  # litellm translates it: it must be valid OpenAI
    result = await recall(services, request_scope, query_text(messages), messages)
    if result.changes:
        body = {**body, "messages": inject(messages, result.system_block, result.turn_blocks())}
    turn = Turn(request_scope, new_user_turn(messages), result)
    # Everything above is the same for both paths; only the forwarding step differs.
    if route is not None:
        return await routed.forward(services, request, turn, body, route)
    content = encode_body(body) if result.changes else raw  # else: the bytes as they came
    return await forward_turn(
        services, services.upstream, request, "chat/completions", content, turn, CHAT
    )
