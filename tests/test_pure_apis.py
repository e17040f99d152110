"""Pure logic of the Responses and Anthropic Messages APIs, the base URL and the query string:
turns, block placement, answers and stream assembly in any chunking, error envelopes."""

from __future__ import annotations

import json

import pytest

from proxy.core import anthropic, responses
from proxy.core.errors import InvalidRequest, PayloadTooLarge, anthropic_error_body
from proxy.core.paths import forwarded_query, split_user_path
from proxy.core.scope import Scope, resolve_scope
from testbed.fake_anthropic import message_events, message_object
from testbed.fake_responses import response_events, response_object

# --- the base URL and the query --------------------------------------------------------------


def test_split_user_path() -> None:
    assert split_user_path(b"/u/alice/v1/chat/completions") == ("alice", b"/v1/chat/completions")
    assert split_user_path(b"/u/Zo%C3%AB/v1") == ("Zoë", b"/v1")
    assert split_user_path(b"/u/a%2Fb/v1/models") == ("a/b", b"/v1/models")
    for other in (b"/v1/models", b"/u/alice", b"/u/alice/healthz", b"/u/alice/v10/x", b"/x/u/a/v1"):
        assert split_user_path(other) is None
    user, _ = split_user_path(b"/u/%FF/v1/x") or ("", b"")
    with pytest.raises(InvalidRequest):  # not UTF-8: refused, never another user's id
        resolve_scope({}, None, {}, path_user=user)


def test_forwarded_query_drops_only_user_id() -> None:
    assert forwarded_query("") == ""
    assert forwarded_query("a=1&b=2") == "a=1&b=2"
    assert forwarded_query("user_id=x") == ""
    assert forwarded_query("a=1&user_id=x&b=%20&user_id") == "a=1&b=%20"
    assert forwarded_query("user%5Fid=x&user_ids=y") == "user_ids=y"


def test_scope_order_header_path_user_safety_identifier_query() -> None:
    body = {"user": "b", "safety_identifier": "s"}
    assert resolve_scope({"x-user-id": "h"}, body, {"user_id": "q"}, "p").scope == Scope("h")
    assert resolve_scope({}, body, {"user_id": "q"}, "p").scope == Scope("p")
    assert resolve_scope({}, body, {"user_id": "q"}).scope == Scope("b")
    assert resolve_scope({}, {"safety_identifier": "s"}, {"user_id": "q"}).scope == Scope("s")
    with pytest.raises(InvalidRequest):
        resolve_scope({}, {"safety_identifier": 5}, {})


# --- Responses: the turn -----------------------------------------------------------------------


def test_responses_turn_of_a_string_input() -> None:
    turn = responses.read_turn({"input": "  I live in Oslo.  "})
    assert turn == responses.ResponsesTurn(query="I live in Oslo.", new_turn="I live in Oslo.")
    assert responses.read_turn({}).query == ""


def test_responses_turn_of_items() -> None:
    items = [
        {"role": "user", "content": "old question"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}]},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "new"},
                {"type": "input_image", "image_url": "data:"},
                {"type": "input_text", "text": "question"},
            ],
        },
    ]
    turn = responses.read_turn({"input": items})
    assert turn.query == turn.new_turn == "new\nquestion"
    tool_result = {"type": "function_call_output", "call_id": "c", "output": "x"}
    turn = responses.read_turn({"input": [*items, tool_result]})
    assert turn.query == "new\nquestion" and turn.new_turn == ""


def test_with_a_server_held_history_every_user_message_of_the_input_is_new() -> None:
    items = [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
    for held in ({"previous_response_id": "resp_1"}, {"conversation": "conv_1"}):
        assert responses.read_turn({"input": items, **held}).new_turn == "one\ntwo"
    assert responses.read_turn({"input": items}).new_turn == "two"


@pytest.mark.parametrize(
    ("body", "param"),
    [({"input": 3}, "input"), ({"input": [1]}, "input[0]"), ({"instructions": {}}, "instructions")],
)
def test_responses_bad_fields(body: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        responses.read_turn(body)
    assert caught.value.param == param


# --- Responses: placement ----------------------------------------------------------------------


def test_system_block_goes_into_instructions() -> None:
    placed = responses.place_blocks({"input": "hi"}, "MEM", {})
    assert placed == {"input": "hi", "instructions": "MEM"}
    placed = responses.place_blocks({"input": "hi", "instructions": "Be brief."}, "MEM", {})
    assert placed["instructions"] == "Be brief.\n\nMEM"
    assert responses.place_blocks({"input": "hi"}, None, {}) == {"input": "hi"}


def test_turn_block_opens_the_last_user_message() -> None:
    placed = responses.place_blocks({"input": "hi"}, None, {0: "TURN"})
    assert placed["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "TURN"},
                {"type": "input_text", "text": "hi"},
            ],
        }
    ]
    image = {"type": "input_image", "image_url": "data:"}
    call = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}
    items = [
        {"role": "user", "content": "first"},
        {"role": "user", "content": [image]},
        call,
    ]
    body = {"input": items}
    placed = responses.place_blocks(body, "SYS", {}, "TURN")  # no index: the last user message
    assert placed["input"][0] == items[0] and placed["input"][2] is call
    assert placed["input"][1]["content"] == [{"type": "input_text", "text": "TURN"}, image]
    assert placed["instructions"] == "SYS"
    assert body["input"][1]["content"] == [image]  # the caller's body is not changed


def test_blocks_go_where_their_index_says() -> None:
    output = {"type": "function_call_output", "call_id": "c", "output": "x"}
    items = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, output]
    placed = responses.place_blocks({"input": items}, None, {0: "OLD", 1: "NEW"})
    assert [i.get("content") for i in placed["input"][:2]] == [
        [{"type": "input_text", "text": "OLD"}, {"type": "input_text", "text": "a"}],
        [{"type": "input_text", "text": "NEW"}, {"type": "input_text", "text": "b"}],
    ]
    assert placed["input"][2] is output
    held = {"input": [output], "previous_response_id": "r"}
    assert responses.conversation_of(held) is None
    assert not responses.has_user_message(held)
    assert responses.conversation_of({"input": "hi"}) == [{"role": "user", "content": "hi"}]


# --- Responses: answers ------------------------------------------------------------------------


def test_responses_answer_of_a_response() -> None:
    assert responses.answer_of(response_object({}, "Hello there", "resp_1")) == "Hello there"
    assert responses.answer_of({"output": [{"type": "reasoning"}]}) == ""
    assert responses.answer_of([]) == ""


@pytest.mark.parametrize("size", [1, 7, 100_000])
def test_responses_stream_in_any_chunking(size: int) -> None:
    stream = b"".join(response_events({}, "Bonjour, ça va ?", "resp_1", chunks=5))
    answer = responses.ResponsesAnswer()
    for i in range(0, len(stream), size):
        answer.feed(stream[i : i + size])
    assert answer.done and answer.error is None
    assert answer.text == "Bonjour, ça va ?"


def test_a_cut_responses_stream_and_its_error_event() -> None:
    answer = responses.ResponsesAnswer()
    sent = list(response_events({}, "partial answer", "resp_1", chunks=3, cut=True))
    for event in sent:
        answer.feed(event)
    assert not answer.done and answer.text == "partial answer"
    name, data = answer.error_event("cut", "upstream_stream_incomplete").split(b"\n")[:2]
    assert name == b"event: error"
    payload = json.loads(data.removeprefix(b"data: "))
    assert payload["type"] == "error" and payload["code"] == "upstream_stream_incomplete"
    assert payload["sequence_number"] == len(sent)  # the next after those sent (0..n-1)
    assert payload["error"]["message"] == "cut"  # what makes the SDKs raise


def test_an_error_event_from_upstream_is_seen() -> None:
    answer = responses.ResponsesAnswer()
    answer.feed(b'event: error\ndata: {"type":"error","code":"x","message":"m"}\n\n')
    assert answer.error == {"type": "error", "code": "x", "message": "m"}


# --- Anthropic ---------------------------------------------------------------------------------


def test_anthropic_routes() -> None:
    assert anthropic.is_anthropic_call("/v1/messages", {})
    assert anthropic.is_anthropic_call("/v1/messages/count_tokens", {})
    assert anthropic.is_anthropic_call("/v1/models", {"anthropic-version": "2023-06-01"})
    assert not anthropic.is_anthropic_call("/v1/models", {})
    assert not anthropic.is_anthropic_call("/v1/messages-x", {})


def test_anthropic_turn_and_query() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Weather where I live?"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "w"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]},
    ]
    assert anthropic.query_text(messages) == "Weather where I live?"
    assert [m["role"] for m in anthropic.conversation_view(messages)] == [
        "user",
        "assistant",
        "tool",
    ]
    assert anthropic.new_user_turn(messages) == ""
    assert anthropic.new_user_turn(messages[:1]) == "Weather where I live?"


def test_anthropic_system_placement() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert anthropic.place_blocks(body, body["messages"], "MEM", {})["system"] == "MEM"
    placed = anthropic.place_blocks({**body, "system": "S"}, body["messages"], "MEM", {})
    assert placed["system"] == "S\n\nMEM"
    cached = [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]
    placed = anthropic.place_blocks({**body, "system": cached}, body["messages"], "MEM", {})
    assert placed["system"] == [*cached, {"type": "text", "text": "MEM"}]


def test_anthropic_turn_block_comes_after_tool_results() -> None:
    result = {"type": "tool_result", "tool_use_id": "t", "content": "x"}
    text = {"type": "text", "text": "and?", "cache_control": {"type": "ephemeral"}}
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [result, text]},
    ]
    placed = anthropic.place_blocks({"messages": messages}, messages, None, {2: "TURN"})
    assert placed["messages"][:2] == messages[:2]
    assert placed["messages"][2]["content"] == [result, {"type": "text", "text": "TURN"}, text]
    placed = anthropic.place_blocks({"messages": messages[:1]}, messages[:1], None, {0: "TURN"})
    assert placed["messages"][0]["content"] == [
        {"type": "text", "text": "TURN"},
        {"type": "text", "text": "first"},
    ]
    assert "system" not in placed


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"messages": []},
        {"messages": [{"content": "x"}]},
        {"messages": [{"role": "user"}], "system": 1},
        {"messages": [{"role": "user"}], "system": ["x"]},
    ],
)
def test_anthropic_bad_requests(body: dict) -> None:
    with pytest.raises(InvalidRequest):
        anthropic.validate_request(body)


@pytest.mark.parametrize("size", [1, 5, 100_000])
def test_anthropic_stream_in_any_chunking(size: int) -> None:
    stream = b"".join(message_events({}, "Grüß Gott, wie geht's?", "msg_1", chunks=4))
    answer = anthropic.MessagesAnswer()
    for i in range(0, len(stream), size):
        answer.feed(stream[i : i + size])
    assert answer.done and answer.text == "Grüß Gott, wie geht's?"
    assert anthropic.answer_of(message_object({}, "Hi", "msg_1")) == "Hi"


def test_a_cut_anthropic_stream_and_its_error_event() -> None:
    answer = anthropic.MessagesAnswer()
    for event in message_events({}, "partial", "msg_1", chunks=2, cut=True):
        answer.feed(event)
    assert not answer.done and answer.text == "partial"
    event = answer.error_event("cut short", "upstream_stream_incomplete")
    assert event == (
        b'event: error\ndata: {"type": "error", "error": {"type": "api_error", '
        b'"message": "cut short"}}\n\n'
    )


def test_anthropic_error_envelope_by_status() -> None:
    assert anthropic_error_body("too big", PayloadTooLarge.status) == {
        "type": "error",
        "error": {"type": "request_too_large", "message": "too big"},
    }
    types = {s: anthropic_error_body("m", s)["error"]["type"] for s in (400, 404, 409, 502, 504)}
    assert types == {
        400: "invalid_request_error",
        404: "not_found_error",
        409: "invalid_request_error",
        502: "api_error",
        504: "timeout_error",
    }
