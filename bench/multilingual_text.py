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

__all__ = [
    "FUNCTION_CJK",
    "STOP_WORDS",
    "cjk_bigrams",
    "content_units",
    "latin_words",
    "shared_units",
]

FUNCTION_CJK = frozenset(
    "我你您他她它们的了吗呢吧啊呀嘛是在有和与也都就还又把被给对从到这那个一不没么什怎哪谁几过着得地之或些很最啥"
)
STOP_WORDS = frozenset(
    "a an the and or but so to of in on at for with about as by from up down out over into onto"
    " is am are was were be been being do does did done have has had will would can could should"
    " may might must i me my mine myself we us our you your he she him his her they them their"
    " it its this that these those there here what which who whom when where why how not no yes"
    " any some all ever just very too also still get got".split()
)
_CJK_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_RUN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_WORD_RE = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    """A light Porter-like stem: plural, -ed, -ing and a final e go ("phones" = "phone",
    "named" = "name", "running" = "run")."""
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", "e")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + keep
            if suffix in ("ing", "ed") and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # "runn", "stopp"
            break
    else:
        if word.endswith("s") and not word.endswith(("ss", "us")) and len(word) > 3:
            word = word[:-1]
    return word.removesuffix("e") if len(word) > 3 else word


def latin_words(text: str) -> frozenset[str]:
    """Stemmed Latin-script content words (and numbers)."""
    return frozenset(_stem(w) for w in _WORD_RE.findall(text.lower()) if w not in STOP_WORDS)


def cjk_bigrams(text: str) -> frozenset[str]:
    """Adjacent CJK character pairs, what a bigram index matches on."""
    runs = _CJK_RUN_RE.findall(text)
    return frozenset(run[i : i + 2] for run in runs for i in range(len(run) - 1))


def content_units(text: str) -> frozenset[str]:
    cjk = {c for c in _CJK_RE.findall(text) if c not in FUNCTION_CJK}
    return frozenset(cjk) | latin_words(text)


def shared_units(a: str, b: str) -> frozenset[str]:
    return content_units(a) & content_units(b)
