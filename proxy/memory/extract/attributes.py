"""Which single-valued attribute of the user a statement sets, if any (pure).

"I live in Berlin" and later "I moved to Lisbon" both set where the user lives: the newer one
supersedes the older without any LLM. Only attributes a person has one of at a time are listed;
"I like tea" and "I like coffee" can both be true and are never superseded this way.
"""

from __future__ import annotations

import re

__all__ = ["attribute_of"]

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
            # Not "I joined": a gym, a club or a writers group is no employer (and a newer
            # one would supersede it).
            r"\bi\s+(?:now\s+|currently\s+)?work\s+(?:at|for)\b|\bmy\s+(?:employer|company)\s+is\b"
            r"|\bi\s+(?:just\s+)?(?:got\s+a\s+job|started\s+(?:working|a\s+(?:new\s+)?job))\s+(?:at|for)\b"
            r"|\bi(?:'m|\s+am)\s+(?:now\s+)?employed\s+(?:at|by)\b",
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
    (
        "answer_language",
        re.compile(
            r"\b(?:answer|respond|reply|write|talk|speak)\s+(?:back\s+)?(?:to\s+)?(?:me\s+)?"
            r"(?:only\s+|always\s+)?in\s+[A-Z][a-z]+\b"
            r"|\b(?:answers|replies|responses)\s+(?:only\s+|always\s+)?in\s+[A-Z][a-z]+\b",
        ),
    ),
    (
        "answer_length",
        re.compile(
            r"\b(?:short|shorter|brief|concise|terse|succinct|detailed|long|longer|in-depth|thorough)"
            r"\s+(?:answers|replies|responses|explanations)\b"
            r"|\bkeep\s+(?:your\s+|the\s+)?(?:answers|replies|responses|it)\s+(?:short|brief)\b",
            _FLAGS,
        ),
    ),
    (
        "diet",
        re.compile(
            r"\bi(?:'m|\s+am)\s+(?:a\s+|now\s+a\s+|strictly\s+|an?\s+ethical\s+)?"
            r"(?:vegan|vegetarian|pescatarian|pescetarian|carnivore|omnivore)\b"
            r"|\bi\s+(?:eat|follow|keep)\s+an?\s+(?:strict\s+)?(?:vegan|vegetarian|pescatarian"
            r"|keto|paleo|halal|kosher)\s+diet\b",
            _FLAGS,
        ),
    ),
    (
        "timezone",
        re.compile(r"\bmy\s+time\s*zone\s+is\b|\bi(?:'m|\s+am)\s+(?:on|in)\s+\w+\s+time\b", _FLAGS),
    ),
    ("residence", re.compile(r"我(?:们)?(?:现在|目前)?(?:住在|搬到|搬去|定居在?|居住在)")),
    (
        "answer_language",
        re.compile(r"用\w{1,6}?[语文](?:来)?(?:回答|回复|答复|交流|和我说|跟我说|跟我聊)"),
    ),
    (
        "answer_length",
        re.compile(
            r"回答(?:要|请|尽量)?(?:简短|简洁|简单|详细|详尽)|(?:简短|简洁|详细)(?:一点|些)?地?回答"
        ),
    ),
    ("diet", re.compile(r"我(?:现在|目前)?(?:吃素|是素食者|是纯素食者|只吃素)")),
    (
        "employer",
        re.compile(r"我(?:现在|目前)?在.{1,20}?(?:工作|上班)|我(?:已经)?入职|我加入了.{1,12}?公司"),
    ),
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
