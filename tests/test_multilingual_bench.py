"""The multilingual probe set's own invariants (bench/multilingual_probes.py), without a proxy:
its size, that every question names real events of its user, that no question shares a content
word with what it targets, and that the offline extractor keeps each event whole as one memory
(else the bench would score a probe the store never held)."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.multilingual_probes import EVENTS, PROFILE, QUESTIONS, UNRELATED, USERS
from bench.multilingual_score import Asked, Probe, blocks_of, lines_of
from bench.multilingual_text import cjk_bigrams, content_units, latin_words, shared_units
from proxy.memory.extract.offline import extract_offline

EVENT = {e.id: e for e in EVENTS}


def direction(question_lang: str, targets: tuple[str, ...]) -> set[str]:
    return {f"{question_lang}->{EVENT[t].lang}" for t in targets}


def test_sizes_and_spread() -> None:
    assert len(EVENTS) >= 60
    assert len(QUESTIONS) + len(UNRELATED) >= 40
    per_user = Counter(e.user for e in EVENTS)
    assert per_user["zh"] >= 30 and all(e.lang == "zh" for e in EVENTS if e.user == "zh")
    mixed = Counter(e.lang for e in EVENTS if e.user == "mixed")
    assert mixed["zh"] >= 10 and mixed["en"] >= 10
    directions = Counter(d for q in QUESTIONS for d in direction(q.lang, q.targets))
    assert directions["zh->zh"] >= 20
    assert directions["en->zh"] >= 10
    assert directions["zh->en"] >= 5
    assert len(UNRELATED) >= 10 and {q.lang for q in UNRELATED} == {"zh", "en"}
    assert sum(len(q.targets) == 1 for q in QUESTIONS) >= 20  # narrow questions


def test_ids_and_texts_are_unique() -> None:
    ids = [*EVENT, *(p.id for p in PROFILE), *(q.id for q in (*QUESTIONS, *UNRELATED))]
    assert len(ids) == len(set(ids))
    texts = [e.text for e in EVENTS] + [p.text for p in PROFILE]
    assert len(texts) == len(set(texts))  # an injected line names one probe


def test_events_are_dated_days_to_months_ago() -> None:
    assert all(5 <= e.days_ago <= 365 for e in EVENTS)  # past the recent tier (72 h)


def test_every_question_targets_existing_events_of_its_user() -> None:
    for question in QUESTIONS:
        assert question.user in USERS and question.targets, question.id
        for target in question.targets:
            assert target in EVENT, (question.id, target)
            assert EVENT[target].user == question.user, (question.id, target)
    assert all(not q.targets and not q.user for q in UNRELATED)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: q.id)
def test_question_shares_no_content_word_with_its_targets(question) -> None:
    for target in question.targets:
        assert not shared_units(question.text, EVENT[target].text), (question.id, target)


@pytest.mark.parametrize("question", UNRELATED, ids=lambda q: q.id)
def test_unrelated_questions_share_no_word_or_bigram_with_any_probe(question) -> None:
    # Single Chinese characters recur in any two sentences ("天气" / "三天"); a bigram or a word
    # in common would be a lexical link the question is not meant to have.
    for probe in (*EVENTS, *PROFILE):
        assert not cjk_bigrams(question.text) & cjk_bigrams(probe.text), (question.id, probe.id)
        assert not latin_words(question.text) & latin_words(probe.text), (question.id, probe.id)


def test_the_content_word_rule_catches_what_it_should() -> None:
    assert shared_units("我的手机坏了", "手机怎么了？") == {"手", "机"}
    assert not shared_units("我的手机坏了", "我的电话呢？")  # function characters only
    assert shared_units("I lost my phones", "Where is my phone?")  # stemmed
    assert shared_units("I was running", "I run daily")
    assert shared_units("我开始用 TypeScript 重写前端。", "Why typescript?") == {"typescript"}
    assert content_units("I did it") == frozenset()
    assert cjk_bigrams("天气很好，三天") == {"天气", "气很", "很好", "三天"}


@pytest.mark.parametrize("probe", [*EVENTS, *PROFILE], ids=lambda p: p.id)
def test_the_offline_extractor_keeps_each_probe_whole(probe) -> None:
    facts = extract_offline(probe.text).facts
    assert [f.text for f in facts] == [probe.text]


def test_blocks_are_read_from_the_system_and_the_last_user_message() -> None:
    block = "<memories>\nNotes.\n- [2026-01-02] 我的手机上周掉进水里坏了。\n</memories>"
    profile = "<memories>\nNotes.\nStanding profile:\n- 我对花生过敏。\n</memories>"
    body = {
        "messages": [
            {"role": "system", "content": f"Be brief.\n\n{profile}"},
            {"role": "user", "content": "earlier <memories>\n- stale\n</memories>"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": block}, {"type": "text"}]},
        ]
    }
    assert lines_of(blocks_of(body)) == ["我对花生过敏。", "我的手机上周掉进水里坏了。"]
    as_string = {"messages": [{"role": "user", "content": f"{block}\n\n问题"}]}
    assert lines_of(blocks_of(as_string)) == ["我的手机上周掉进水里坏了。"]


def test_asked_sorts_lines_into_events_profile_and_leaks() -> None:
    probes = {
        "a": Probe("event", "zh", "z01"),
        "b": Probe("profile", "zh", "pz1"),
        "c": Probe("event", "mixed", "m01"),
    }
    asked = Asked("q", "zh", "zh", "zh->zh", ("z01", "z02"), ["a", "b", "c", "d"], 10, 4)
    asked.classify(probes)
    assert (asked.events, asked.profile, asked.foreign, asked.other) == (
        ["z01"],
        ["pz1"],
        ["m01"],
        1,
    )
    assert asked.recall == 0.5
