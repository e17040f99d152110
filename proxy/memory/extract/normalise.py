"""A normalised view of a text for secret matching, with a map back to the original (pure).

Secrets hide in look-alike characters: full-width digits ("４１１１"), a zero-width space inside
a key, compatibility forms. The rules match on the NFKC form with invisible characters removed;
what is replaced is the matching span of the original text, so the rest of the user's words
(full-width Chinese punctuation included) are stored as they were written.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["View", "normalise"]

# Zero-width and formatting characters that render as nothing (and bidi controls).
INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
    "\u3164\ufeff\uffa0"
)
# Runs that may change under NFKC: anything but ASCII and the CJK ideographs (stable, common).
_UNSTABLE_RUN = re.compile(r"[^\x00-\x7f\u3400-\u4dbf\u4e00-\u9fff]+")


@dataclass(frozen=True)
class View:
    text: str  # NFKC, invisible characters removed
    origin: list[int] | None  # origin[i]: index in the original of text[i]; None: the same text

    def span_in_original(self, start: int, end: int) -> tuple[int, int]:
        if self.origin is None:
            return start, end
        return self.origin[start], self.origin[end - 1] + 1


@lru_cache(maxsize=4096)
def _char(ch: str) -> str:
    return "" if ch in INVISIBLE else unicodedata.normalize("NFKC", ch)


def normalise(text: str) -> View:
    if _UNSTABLE_RUN.search(text) is None:
        return View(text, None)
    parts: list[str] = []
    origin: list[int] = []
    pos = 0
    changed = False
    for run in _UNSTABLE_RUN.finditer(text):
        start, end = run.span()
        if start > pos:
            parts.append(text[pos:start])
            origin.extend(range(pos, start))
        chunk = run.group()
        if unicodedata.is_normalized("NFKC", chunk) and not INVISIBLE.intersection(chunk):
            parts.append(chunk)
            origin.extend(range(start, end))
        else:
            changed = True
            for offset, ch in enumerate(chunk):
                mapped = _char(ch)
                parts.append(mapped)
                origin.extend([start + offset] * len(mapped))
        pos = end
    if not changed:
        return View(text, None)
    parts.append(text[pos:])
    origin.extend(range(pos, len(text)))
    return View("".join(parts), origin)
