"""Which single-valued attribute of the user a statement sets, if any (pure).

"I live in Berlin" and later "I moved to Lisbon" both set where the user lives: the newer one
supersedes the older without any LLM. Only attributes a person has one of at a time are listed;
"I like tea" and "I like coffee" can both be true and are never superseded this way.
"""

from __future__ import annotations

import re

_FLAGS = re.IGNORECASE
_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "residence",
        re.compile(
            r"\b(?:i|we)\s+(?:now\s+|currently\s+|still\s+)?(?:live|living|reside|am living|"
            r"moved|have moved|relocated|am moving|'m moving|just moved)\s+(?:in|to)\b"
            r"|\b(?:i'm|i am|we're|we are)\s+(?:now\s+)?(?:based|living)\s+in\b"
            r"|\bmy\s+(?:home|hometown)\s+is\s+(?:now\s+)?in\b",
            _FLAGS,
        ),
    ),
    (
        "employer",
        re.compile(
            r"\bi\s+(?:now\s+|currently\s+)?work\s+(?:at|for)\b|\bi\s+(?:just\s+)?joined\b"
            r"|\bmy\s+(?:employer|company)\s+is\b",
            _FLAGS,
        ),
    ),
    (
        "occupation",
        re.compile(
            r"\bi\s+(?:now\s+|currently\s+)?work\s+as\b|\bmy\s+(?:job|profession|occupation)\s+is\b",
            _FLAGS,
        ),
    ),
    ("name", re.compile(r"\bmy\s+name\s+is\b|\bcall\s+me\b", _FLAGS)),
    ("age", re.compile(r"\bi(?:'m|\s+am)\s+\d{1,3}\s*(?:years?\s+old|y/?o)\b", _FLAGS)),
    (
        "relationship",
        re.compile(
            r"\bi(?:'m|\s+am)\s+(?:now\s+)?(?:single|married|engaged|divorced|widowed)\b", _FLAGS
        ),
    ),
    ("residence", re.compile(r"我(?:们)?(?:现在|目前)?(?:住在|搬到|搬去|定居在?|居住在)")),
    ("employer", re.compile(r"我(?:现在|目前)?在.{1,20}?(?:工作|上班)|我(?:加入了|入职)")),
    (
        "occupation",
        re.compile(r"我(?:现在|目前)?(?:的工作|的职业)?是一?名|我的职业是|我做.{1,10}?工作"),
    ),
    ("name", re.compile(r"我叫|我的名字是|叫我")),
    ("age", re.compile(r"我(?:今年)?\d{1,3}岁")),
]
_FAVOURITE = re.compile(
    r"\bmy\s+(?:new\s+)?(?:favou?rite|fav)\s+([a-z]+(?:\s+[a-z]+)?)\s+(?:is|are)\b", _FLAGS
)
_FAVOURITE_ZH = re.compile(r"我最喜欢的(\w{1,6}?)是")


def attribute_of(text: str) -> str | None:
    """The attribute key the statement sets ("residence", "favourite:colour", ...), or None."""
    match = _FAVOURITE.search(text)
    if match:
        return f"favourite:{match.group(1).lower()}"
    match = _FAVOURITE_ZH.search(text)
    if match:
        return f"favourite:{match.group(1)}"
    for key, pattern in _RULES:
        if pattern.search(text):
            return key
    return None
