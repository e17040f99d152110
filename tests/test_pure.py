"""Pure logic: scope, query text, injection, budget, tokens, SSE assembly, fusion, settings."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from proxy.core.conversation import new_user_turn, query_text, text_of
from proxy.core.errors import InvalidRequest
from proxy.core.inject import build_block, inject
from proxy.core.records import Memory
from proxy.core.scope import MemoryMode, Scope, resolve_scope
from proxy.core.sse import AnswerAssembler, answer_of
from proxy.core.tokens import estimate_tokens
from proxy.memory.recall.index import Candidates, UserIndex
from proxy.memory.recall.lexical import Bm25Index, tokenize
from proxy.memory.recall.retrieval import SelectionParams, rrf, select
from proxy.settings import load_settings

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def mem(text: str, day: int = 1, user: str = "u", session: str | None = None) -> Memory:
    when = datetime(2024, 1, day, tzinfo=UTC)
    return Memory(
        id=f"{text}-{day}", text=text, scope=Scope(user, session), created_at=when, occurred_at=when
    )


# --- scope -----------------------------------------------------------------------------------


def test_header_wins_over_body_and_query() -> None:
    rs = resolve_scope({"x-user-id": "h"}, {"user": "b"}, {"user_id": "q"})
    assert rs.scope == Scope("h") and rs.mode is MemoryMode.ON
    assert resolve_scope({}, {"user": "b"}, {"user_id": "q"}).scope == Scope("b")
    assert resolve_scope({}, {}, {"user_id": "q"}).scope == Scope("q")


def test_no_user_means_memory_off() -> None:
    rs = resolve_scope({"x-memory-mode": "on"}, {}, {})
    assert rs.scope is None and rs.mode is MemoryMode.OFF


def test_session_agent_mode_and_time() -> None:
    rs = resolve_scope(
        {
            "x-user-id": "u",
            "x-session-id": "s",
            "x-agent-id": "a",
            "x-memory-mode": "Read-Only",
            "x-memory-time": "2023-05-08T13:56:00",
        },
        None,
        {},
    )
    assert rs.scope == Scope("u", "s", "a")
    assert rs.mode is MemoryMode.READ_ONLY and rs.mode.reads and not rs.mode.writes
    assert rs.occurred_at == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["", " x", "x ", "a\nb", "é" * 257, 7])
def test_bad_ids_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        resolve_scope({}, {"user": bad}, {})


def test_unicode_ids_are_fine() -> None:
    assert resolve_scope({"x-user-id": "用户-42"}, None, {}).scope == Scope("用户-42")


# --- messages --------------------------------------------------------------------------------


def test_text_of_keeps_only_text_parts() -> None:
    parts = [
        {"type": "text", "text": "a"},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "text", "text": "b"},
    ]
    assert text_of(parts) == "a\nb"
    assert text_of(None) == ""


def test_query_and_new_turn() -> None:
    messages = [
        {"role": "user", "content": "old"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": " new "},
    ]
    assert query_text(messages) == "new" and new_user_turn(messages) == "new"
    with_tool = [*messages, {"role": "tool", "tool_call_id": "1", "content": "r"}]
    assert new_user_turn(with_tool) == "" and query_text(with_tool) == "new"


# --- injection -------------------------------------------------------------------------------


def test_block_shows_dates_and_respects_the_budget() -> None:
    memories = [mem("I live in Berlin.", 3), mem("x " * 400, 2), mem("I like tea.", 1)]
    block, kept = build_block(memories, token_budget=80)
    assert "- [2024-01-03] I live in Berlin." in block
    assert "- [2024-01-01] I like tea." in block  # a later, shorter memory still fits
    assert [m.text for m in kept] == ["I live in Berlin.", "I like tea."]
    assert estimate_tokens(block) <= 80
    assert build_block(memories, token_budget=10) == ("", [])


def test_inject_into_new_system_message_without_touching_the_input() -> None:
    messages = [{"role": "user", "content": "hi"}]
    result = inject(messages, "BLOCK")
    assert result == [{"role": "system", "content": "BLOCK"}, {"role": "user", "content": "hi"}]
    assert messages == [{"role": "user", "content": "hi"}]


def test_inject_keeps_parts_and_role() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {"role": "developer", "content": [{"type": "text", "text": "d"}]},
    ]
    result = inject(messages, "B")
    assert result[1] == {
        "role": "developer",
        "content": [{"type": "text", "text": "d"}, {"type": "text", "text": "B"}],
    }
    assert messages[1]["content"] == [{"type": "text", "text": "d"}]
    assert inject([{"role": "system", "content": None}], "B") == [
        {"role": "system", "content": "B"}
    ]


def test_token_estimate_counts_cjk_per_character() -> None:
    assert estimate_tokens("abcd" * 10) == 10
    assert estimate_tokens("中文回答") == 4


# --- SSE -------------------------------------------------------------------------------------


def test_answer_assembler_handles_any_chunking() -> None:
    stream = (
        b": keep-alive\n\n"
        b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
        b'data: {"choices":[{"index":1,"delta":{"content":"ignored"}}]}\r\n\r\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"lo \xe4\xb8\xad"}}]}\n\n'
        b'data: {"choices":[],"usage":{"total_tokens":3}}\n\n'
        b"data: [DONE]\n\n"
    )
    for size in (1, 3, 7, len(stream)):
        assembler = AnswerAssembler()
        for i in range(0, len(stream), size):
            assembler.feed(stream[i : i + size])
        assert assembler.text == "Hello 中" and assembler.done


def test_answer_of_a_completion() -> None:
    assert answer_of({"choices": [{"index": 0, "message": {"content": "x"}}]}) == "x"
    assert answer_of({"choices": [{"index": 0, "message": {"content": None}}]}) == ""
    assert answer_of([]) == ""


# --- lexical and fusion ----------------------------------------------------------------------


def test_tokenize_drops_stopwords_and_bigrams_cjk() -> None:
    assert tokenize("I moved to Lisbon!") == ["moved", "lisbon"]
    assert tokenize("喜欢乌龙茶") == ["喜欢", "欢乌", "乌龙", "龙茶"]


def test_bm25_ranks_and_filters() -> None:
    index = Bm25Index()
    index.add(0, tokenize("I live in Berlin"))
    index.add(1, tokenize("Berlin Berlin is big and I visited Berlin"))
    index.add(2, tokenize("I like tea"))
    ranked = index.search(tokenize("Berlin"))
    assert {doc for doc, _, _ in ranked} == {0, 1}
    assert index.search(tokenize("Berlin"), allowed={0}) == [
        (0, ranked[[d for d, _, _ in ranked].index(0)][1], 1.0)
    ]
    index.remove(1)
    assert [doc for doc, _, _ in index.search(tokenize("Berlin"))] == [0]


def test_rrf_sums_reciprocal_ranks() -> None:
    scores = rrf([{1: 0, 2: 1}, {2: 0}], k=10)
    assert scores[2] == pytest.approx(1 / 12 + 1 / 11)
    assert scores[1] == pytest.approx(1 / 11)


def test_select_applies_threshold_and_newest_wins() -> None:
    vectors = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    memories = [
        mem("old home Berlin", 1),
        mem("new home Lisbon", 5),
        mem("likes tea", 2),
        mem("keyword match", 3),
    ]
    candidates = Candidates(
        memories=memories,
        vectors=vectors,
        similarities=np.array([0.8, 0.79, 0.1, 0.05]),
        dense_rank={0: 0, 1: 1, 2: 2, 3: 3},
        lexical_rank={3: 0},
        lexical_coverage={3: 0.9},
    )
    hits = select(candidates, SelectionParams(top_k=5, min_similarity=0.3))
    assert [h.memory.text for h in hits] == ["keyword match", "new home Lisbon"]


def test_user_index_scopes_candidates() -> None:
    index = UserIndex("u", 3)
    a, b = mem("alpha", 1, session="s1"), mem("beta", 2, session="s2")
    index.upsert([a, b], np.array([[1, 0, 0], [1, 0, 0]], dtype=np.float32))
    query = np.array([1, 0, 0], dtype=np.float32)
    found = index.view(Scope("u"), query, "alpha", 10, NOW).candidates
    assert {m.text for m in found.memories} == {
        "alpha",
        "beta",
    }
    assert [
        m.text for m in index.view(Scope("u", "s2"), query, "alpha", 10, NOW).candidates.memories
    ] == ["beta"]
    with pytest.raises(ValueError, match="another user"):
        index.upsert([mem("x", user="other")], query[None, :])


# --- settings --------------------------------------------------------------------------------


def test_settings_precedence(tmp_path, monkeypatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("port: 7001\nhost: 0.0.0.0\nretrieval:\n  top_k: 3\n")
    monkeypatch.setenv("MEMORY_PROXY_PORT", "7002")
    settings = load_settings(config_file=str(config), port=None)
    assert (settings.port, settings.host, settings.retrieval.top_k) == (7002, "0.0.0.0", 3)
    assert load_settings(config_file=str(config), port=7003).port == 7003
    monkeypatch.delenv("MEMORY_PROXY_PORT")
    assert load_settings(config_file=str(config)).port == 7001
    with pytest.raises(FileNotFoundError):
        load_settings(config_file=str(tmp_path / "missing.yaml"))
