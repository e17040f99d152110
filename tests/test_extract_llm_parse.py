"""Pure parts of LLM extraction and attribute detection: prompt, tolerant parsing, id bounds."""

from __future__ import annotations

import pytest

from proxy.core.errors import ExtractionParseError
from proxy.memory.extract.attributes import attribute_of
from proxy.memory.extract.llm import (
    Decision,
    build_messages,
    parse_decisions,
)


@pytest.mark.parametrize(
    "raw",
    [
        '{"memory": [{"event": "ADD", "text": "I like tea"}]}',
        '```json\n{"memory": [{"event": "ADD", "text": "I like tea"}]}\n```',
        'Here is the JSON:\n{"memory": [{"event": "ADD", "text": "I like tea",},],}\nThanks!',
        '[{"event": "add", "text": "I like tea"}]',
        '{"memories": [{"action": "ADD", "text": "I like tea"}]}',
    ],
)
def test_tolerant_parsing(raw: str) -> None:
    assert parse_decisions(raw, 0) == [Decision("ADD", "I like tea", "fact")]


def test_ids_out_of_range_and_unknown_events_are_dropped() -> None:
    raw = (
        '{"memory": [{"event": "UPDATE", "id": 1, "text": "x", "kind": "plan"},'
        ' {"event": "UPDATE", "id": 7, "text": "y"}, {"event": "DELETE", "id": "0"},'
        ' {"event": "DELETE", "id": -1}, {"event": "MERGE", "id": 0}, {"event": "NONE", "id": 0},'
        ' {"event": "ADD", "text": ""}, {"event": "ADD", "text": "z", "kind": "weird"}]}'
    )
    assert parse_decisions(raw, 2) == [
        Decision("UPDATE", "x", "plan", 1),
        Decision("DELETE", target=0),
        Decision("ADD", "z", "fact"),
    ]


@pytest.mark.parametrize("raw", ["", "no json here", '{"memory": [', '{"memory": "x"}', "{oops}"])
def test_unreadable_answers_raise(raw: str) -> None:
    with pytest.raises(ExtractionParseError):
        parse_decisions(raw, 0)


def test_prompt_numbers_existing_memories_and_carries_the_turn() -> None:
    messages = build_messages("I moved to Rome", "Nice!", ["I live in Paris", "I like tea"])
    assert messages[0]["role"] == "system" and "ADD" in messages[0]["content"]
    assert messages[1]["content"] == (
        "EXISTING MEMORIES:\n0: I live in Paris\n1: I like tea\n\n"
        "NEW TURN:\nUSER: I moved to Rome\nASSISTANT: Nice!"
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("I live in Berlin.", "residence"),
        ("I moved to Lisbon last month.", "residence"),
        ("We're based in Austin now.", "residence"),
        ("I work at Siemens.", "employer"),
        ("I work as a nurse.", "occupation"),
        ("My name is Ana.", "name"),
        ("I'm 34 years old.", "age"),
        ("My favourite colour is teal.", "favourite:colour"),
        ("我住在北京。", "residence"),
        ("我搬到了上海。", "residence"),
        ("我在腾讯工作。", "employer"),
        ("我叫小明。", "name"),
        ("我最喜欢的颜色是蓝色。", "favourite:颜色"),
        ("I like tea.", None),
        ("I visited Berlin last year.", None),
        ("I love hiking.", None),
        ("我喜欢喝茶。", None),
    ],
)
def test_attribute_of(text: str, key: str | None) -> None:
    assert attribute_of(text) == key
