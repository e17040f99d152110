"""The pure parts of routing: configuration, matching, call targets, the arguments litellm gets,
OpenAI's shape of litellm's answers, and the provider's error read out of litellm's message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from proxy.core.completion_args import completion_call
from proxy.core.openai_shape import StreamShaper, completion_body
from proxy.core.provider_errors import Failure, clean_message, provider_detail, provider_error
from proxy.core.responses_args import responses_call
from proxy.core.responses_shape import EventShaper, response_body
from proxy.core.routing import RouteTable, chat_model, resolve_target
from proxy.settings import RouteSettings, Settings


def table(*routes: dict[str, Any]) -> RouteTable[RouteSettings]:
    return RouteTable([RouteSettings(**spec) for spec in routes])


# --- configuration ------------------------------------------------------------------------


def test_a_key_may_name_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_ROUTE_KEY", "sk-from-env")
    route = RouteSettings(
        model="m", litellm_model="anthropic/x", api_key="os.environ/TEST_ROUTE_KEY"
    )
    assert route.api_key is not None and route.api_key.get_secret_value() == "sk-from-env"
    assert "sk-from-env" not in repr(route)
    settings = Settings(upstream_api_key="os.environ/TEST_ROUTE_KEY")
    assert settings.upstream_api_key is not None
    assert settings.upstream_api_key.get_secret_value() == "sk-from-env"


def test_a_key_naming_an_unset_variable_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_NO_SUCH_KEY", raising=False)
    with pytest.raises(ValidationError, match="TEST_NO_SUCH_KEY, which is not set"):
        Settings(
            routes=[
                {"model": "m", "litellm_model": "x/y", "api_key": "os.environ/TEST_NO_SUCH_KEY"}
            ]
        )
    with pytest.raises(ValidationError, match="TEST_NO_SUCH_KEY"):
        Settings(extraction={"model": "x", "api_key": "os.environ/TEST_NO_SUCH_KEY"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"model": "m", "litellm_model": "a/*"}, "more `*`"),
        ({"model": "m", "litellm_model": "a/b", "params": {"api_base": "x"}}, "api_base"),
        ({"model": "m", "litellm_model": "a/b", "apibase": "x"}, "apibase"),
        ({"model": "", "litellm_model": "a/b"}, "model"),
    ],
)
def test_bad_routes_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(routes=[spec])


def test_two_routes_for_one_model_are_refused() -> None:
    with pytest.raises(ValidationError, match="two routes"):
        Settings(routes=[{"model": "m", "litellm_model": "a/b"}] * 2)


def test_routes_come_from_the_yaml_file(tmp_path: Any) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "routes:\n"
        "  - model: claude-*\n"
        "    litellm_model: anthropic/claude-*\n"
        "    params: {max_tokens: 2048}\n"
    )
    settings = Settings(config_file=config)
    assert settings.routes[0].litellm_model == "anthropic/claude-*"
    assert settings.routes[0].params == {"max_tokens": 2048}


# --- matching -----------------------------------------------------------------------------


def test_exact_names_win_over_patterns_and_patterns_fill_in_the_model() -> None:
    routes = table(
        {"model": "claude-*", "litellm_model": "anthropic/claude-*"},
        {"model": "claude-fast", "litellm_model": "anthropic/claude-haiku-4-5"},
        {"model": "*/*", "litellm_model": "*/*"},
    )
    fast = routes.match("claude-fast")
    assert fast is not None and fast.litellm_model == "anthropic/claude-haiku-4-5"
    opus = routes.match("claude-opus-4")
    assert opus is not None and opus.litellm_model == "anthropic/claude-opus-4"
    both = routes.match("bedrock/anthropic.claude-v2")
    assert both is not None and both.litellm_model == "bedrock/anthropic.claude-v2"
    assert routes.match("gpt-4o") is None
    assert routes.match(None) is None and routes.match(["claude-x"]) is None
    assert routes.names() == ["claude-fast"]


def test_an_empty_table_matches_nothing() -> None:
    assert not table() and table().match("anything") is None


def test_ollama_chat_calls_use_the_chat_endpoint() -> None:
    assert chat_model("ollama/qwen3") == "ollama_chat/qwen3"
    assert chat_model("ollama_chat/qwen3") == "ollama_chat/qwen3"
    assert chat_model("anthropic/claude") == "anthropic/claude"


# --- where the proxy's own calls go -------------------------------------------------------

UPSTREAM = {"upstream_url": "http://up/v1", "upstream_key": "sk-up"}


def test_a_bare_or_openai_model_goes_to_the_upstream() -> None:
    for model in ("gpt-4.1-nano", "openai/gpt-4.1-nano"):
        target = resolve_target(model, table(), api_base=None, api_key=None, chat=True, **UPSTREAM)
        assert (target.model, target.api_base, target.api_key) == (
            "openai/gpt-4.1-nano",
            "http://up/v1",
            "sk-up",
        )


def test_another_providers_model_never_gets_the_upstreams_url_or_key() -> None:
    target = resolve_target(
        "ollama/qwen3", table(), api_base=None, api_key=None, chat=True, **UPSTREAM
    )
    assert (target.model, target.api_base, target.api_key) == ("ollama_chat/qwen3", None, None)
    embed = resolve_target(
        "ollama/nomic-embed-text", table(), api_base=None, api_key=None, chat=False, **UPSTREAM
    )
    assert embed.model == "ollama/nomic-embed-text"  # embeddings stay on /api/embed


def test_a_routes_name_takes_the_route_and_explicit_settings_win() -> None:
    routes = table(
        {
            "model": "claude-home",
            "litellm_model": "anthropic/claude-haiku-4-5",
            "api_base": "http://claude",
            "api_key": "sk-route",
            "params": {"max_tokens": 512},
        }
    )
    target = resolve_target(
        "claude-home", routes, api_base=None, api_key=None, chat=True, **UPSTREAM
    )
    assert target.model == "anthropic/claude-haiku-4-5"
    assert (target.api_base, target.api_key, dict(target.params)) == (
        "http://claude",
        "sk-route",
        {"max_tokens": 512},
    )
    assert "sk-route" not in repr(target)
    own = resolve_target(
        "claude-home", routes, api_base="http://mine", api_key="sk-mine", chat=True, **UPSTREAM
    )
    assert (own.api_base, own.api_key) == ("http://mine", "sk-mine")


# --- the arguments litellm gets -----------------------------------------------------------


def test_only_openai_parameters_reach_litellm_and_the_proxy_decides_the_rest() -> None:
    body = {
        "model": "claude-home",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "stream": True,
        "stream_options": {"include_usage": True},
        "api_base": "http://evil",
        "mock_response": "pwned",
        "metadata": {"x": 1},
        "store": True,
    }
    call = completion_call(
        body,
        body["messages"],
        litellm_model="anthropic/claude-x",
        params={"max_tokens": 1024, "temperature": 1.0},
        api_base="http://claude",
        api_key="sk-route",
        timeout_s=30,
    )
    args = call.arguments
    assert args["api_base"] == "http://claude" and args["api_key"] == "sk-route"
    assert args["temperature"] == 0.2 and args["max_tokens"] == 1024  # client over route params
    assert "mock_response" not in args and "metadata" not in args and "store" not in args
    assert (args["num_retries"], args["drop_params"], args["stream"]) == (0, True, True)
    assert call.include_usage and call.dropped == ("api_base", "metadata", "mock_response", "store")
    assert "sk-route" not in repr(call)


def test_stream_options_only_go_with_a_stream() -> None:
    body = {"model": "m", "messages": [], "stream_options": {"include_usage": True}}
    call = completion_call(
        body, [], litellm_model="a/b", params={}, api_base=None, api_key=None, timeout_s=1
    )
    assert "stream_options" not in call.arguments and not call.include_usage


# --- OpenAI's shape -----------------------------------------------------------------------


def test_a_completion_keeps_only_openais_fields() -> None:
    raw = {
        "id": "chatcmpl-1",
        "created": 5,
        "model": "ollama_chat/llama3",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "Hi",
                    "tool_calls": None,
                    "provider_specific_fields": {"x": 1},
                },
            }
        ],
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 1,
            "total_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 2, "cache_creation_tokens": 9},
            "completion_tokens_details": None,
        },
        "vertex_ai_safety_ratings": [],
    }
    assert completion_body(raw, "llama-home", 99) == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 5,
        "model": "llama-home",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 1,
            "total_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 2},
        },
        "system_fingerprint": None,
    }


def test_a_stream_gets_one_id_no_empty_chunks_and_its_usage_last() -> None:
    shaper = StreamShaper("llama-home", 7, include_usage=True)
    raws = [
        {"id": "a", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "He"}}]},
        {"id": "b", "choices": [{"index": 0, "delta": {"content": "llo"}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {
            "id": "d",
            "choices": [{"index": 0, "delta": {}}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4},
        },
    ]
    chunks = [chunk for raw in raws for chunk in shaper.feed(raw)] + shaper.finish()
    assert [c["id"] for c in chunks] == ["a"] * 4
    assert [c["choices"] for c in chunks][-1] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    assert chunks[2]["choices"][0]["finish_reason"] == "stop"
    assert shaper.text == "Hello"
    without = StreamShaper("m", 7, include_usage=False)
    assert [c for raw in raws for c in without.feed(raw)][-1]["choices"][0]["finish_reason"]
    assert without.finish() == []


# --- the provider's error -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            'litellm.NotFoundError: AnthropicException - {"type":"error","error":'
            '{"type":"not_found_error","message":"model: claude-x"}}',
            ("model: claude-x", "not_found_error", 404, None),
        ),
        (
            'litellm.InternalServerError: AnthropicError - b\'{"type":"error","error":'
            '{"type":"overloaded_error","message":"Overloaded"}}\'',
            ("Overloaded", "overloaded_error", 529, None),
        ),
        (
            "litellm.RateLimitError: litellm.RateLimitError: GeminiException - "
            '{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":'
            '[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30.2s"}]}}',
            ("quota", "RESOURCE_EXHAUSTED", 429, 31),
        ),
        (
            'litellm.NotFoundError: Ollama_chatException - {"error":"model \\"x\\" not found"}',
            ('model "x" not found', None, None, None),
        ),
        (
            "litellm.Timeout: Connection timed out after 0.5 s",
            (None, None, None, None),
        ),
    ],
)
def test_the_providers_error_is_read_out_of_litellms_message(
    message: str, expected: tuple[Any, ...]
) -> None:
    detail = provider_detail(message)
    assert (detail.message, detail.code, detail.status, detail.retry_after_s) == expected


def test_litellms_prefixes_advice_and_tracebacks_never_reach_the_client() -> None:
    message = (
        "litellm.APIConnectionError: Missing Gemini API key. Set GEMINI_API_KEY.\n"
        "Traceback (most recent call last):\n  File ...\n"
    )
    assert clean_message(message) == "Missing Gemini API key. Set GEMINI_API_KEY."
    advice = "litellm.InternalServerError: AnthropicException - boom. Handle with `litellm.X`."
    assert clean_message(advice) == "boom"


def test_statuses_of_failures_without_an_answer() -> None:
    timeout = provider_error(Failure(408, "timed out", None, timed_out=True), "anthropic")
    assert (timeout.status, timeout.code) == (504, "upstream_timeout")
    refused = provider_error(Failure(500, "connect failed", None, unreachable=True), "gemini")
    assert (refused.status, refused.code) == (502, "upstream_unreachable")
    broken = provider_error(Failure(500, "litellm.APIConnectionError: no key", None), "gemini")
    assert broken.status == 500 and broken.headers == {"x-should-retry": "false"}
    assert broken.message == "the call to gemini failed before it was sent: no key"


def test_an_answered_failure_keeps_the_providers_status_and_retry_headers() -> None:
    failure = Failure(
        500,
        'AnthropicException - {"type":"error","error":'
        '{"type":"overloaded_error","message":"busy"}}',
        {"retry-after": "3", "request-id": "req_1", "content-type": "application/json"},
    )
    error = provider_error(failure, "anthropic")
    assert (error.status, error.type, error.code, error.message) == (
        529,
        "upstream_error",
        "overloaded_error",
        "busy",
    )
    assert error.headers == {"retry-after": "3", "x-request-id": "req_1"}


def test_the_readmes_route_example_is_a_valid_config(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Any model") :]
    example = section[section.index("```yaml\n") + 8 : section.index("```\n", 8)]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-readme")
    monkeypatch.setenv("GEMINI_API_KEY", "goog-readme")
    config = tmp_path / "config.yaml"
    config.write_text(example)
    routes = RouteTable(Settings(config_file=config).routes)
    opus = routes.match("claude-opus-4-1")
    assert opus is not None and opus.litellm_model == "anthropic/claude-opus-4-1"
    local = routes.match("local")
    assert local is not None and local.route.api_base == "http://127.0.0.1:11434"
    assert routes.names() == ["claude-sonnet", "gemini-flash", "local"]


# --- the Responses API --------------------------------------------------------------------


def test_a_routed_response_gets_openai_parameters_only_and_is_never_stored() -> None:
    body = {
        "model": "claude-home",
        "input": "hi",
        "instructions": "Be brief.",
        "stream": True,
        "store": True,
        "metadata": {"k": "v"},
        "api_base": "http://evil",
    }
    call = responses_call(
        body, litellm_model="anthropic/x", params={}, api_base="http://a", api_key="k", timeout_s=9
    )
    args = call.arguments
    assert (args["input"], args["instructions"], args["stream"], args["store"]) == (
        "hi",
        "Be brief.",
        True,
        False,
    )
    assert args["api_base"] == "http://a" and "metadata" not in args
    assert call.dropped == ("api_base", "metadata", "store")


def test_stream_events_are_numbered_and_name_the_requested_model() -> None:
    shaper = EventShaper("claude-home")
    created = shaper.event(
        {
            "type": "response.created",
            "response": {"id": "r", "model": "claude-sonnet-4-5", "output": [], "store": None},
        }
    )
    delta = shaper.event(
        {"type": "response.output_text.delta", "delta": "Hi", "provider_specific_fields": {}}
    )
    assert created.startswith(b"event: response.created\ndata: ")
    first = json.loads(created.split(b"data: ", 1)[1])
    second = json.loads(delta.split(b"data: ", 1)[1])
    assert first["sequence_number"] == 0 and second["sequence_number"] == 1
    assert first["response"]["model"] == "claude-home" and first["response"]["store"] is False
    assert "provider_specific_fields" not in second
    usage = {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2, "cost": 0.1}
    assert "cost" not in response_body({"usage": usage}, "m")["usage"]
