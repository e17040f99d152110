"""What "shares no content word" means for the multilingual probe set (pure).

A text's content units are
- every CJK character except a short list of function characters (pronouns, particles, the
  copula, question words): no shared character means no shared CJK bigram either, so neither a
  character index nor a bigram index can link a question to its answer;
- every Latin-script word, lower-cased and lightly stemmed ("phones" = "phone", "passed" =
  "pass"), minus English stop words; numbers count too. Latin words inside Chinese text
  ("我开始用 TypeScript") are content units of that text.
"""

from __future__ import annotations

import re

__all__ = ["FUNCTION_CJK", "STOP_WORDS", "content_units", "shared_units"]

FUNCTION_CJK = frozenset(
    "我你您他她它们的了吗呢吧啊呀嘛是在有和与也都就还又把被给对从到这那个一不没么什怎哪谁几过着得地之或些很最啥"
)
STOP_WORDS = frozenset(
    "a an the and or but so to of in on at for with about as by from up down out over into onto"
    " is am are was were be been being do does did done have has had will would can could should"
    " may might must i me my mine myself we us our you your he she him his her they them their"
    " it its this that these those there here what which who whom when where why how not no yes"
    " any some all ever just very too also still get got"
    .split()
)
_CJK_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD_RE = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_units(text: str) -> frozenset[str]:
    cjk = {c for c in _CJK_RE.findall(text) if c not in FUNCTION_CJK}
    words = {_stem(w) for w in _WORD_RE.findall(text.lower()) if w not in STOP_WORDS}
    return frozenset(cjk | words)


def shared_units(a: str, b: str) -> frozenset[str]:
    return content_units(a) & content_units(b)
