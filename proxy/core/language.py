"""Whether a text needs the multilingual embedding model (pure).

all-MiniLM-L6-v2, the default model, is English-only: it places any two Chinese texts close
together and has no notion of other languages' words. A text needs the multilingual model when
it is written in another script (Chinese, Japanese, Korean, Cyrillic, Greek, Arabic, Hebrew,
Devanagari, Thai, ...) or in a Latin-script language other than English (told apart by function
words: "el", "der", "les", "não" are common there and rare in English).
"""

from __future__ import annotations

import re

__all__ = ["needs_multilingual"]

# Scripts MiniLM has no vocabulary for (letters, not punctuation or symbols).
_OTHER_SCRIPT = re.compile(
    "[\u0370-\u03ff\u0400-\u052f\u0590-\u05ff\u0600-\u06ff\u0750-\u077f\u0900-\u0dff"
    "\u0e00-\u0eff\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff]"
)
_WORD = re.compile(r"[^\W\d_]+")
_ENGLISH = frozenset(
    "the a an and or but of to in on at for with is are was were be been i my me you your we "
    "our it this that have has had do does did not no will would can could should from by as "
    "so if when what which who how there their they he she his her".split()
)
# Frequent function words of Spanish, Portuguese, French, Italian, German and Dutch that are
# not English words.
_FOREIGN = frozenset(
    "el la los las del al y que es por para con una uno unos unas su sus pero muy también "
    "yo mi tengo estoy soy o não sim um uma os da dos das em na nos nas é são eu meu "
    "minha tenho estou le les des du et est sont je tu il elle nous vous ils mon ma mes avec "
    "pour dans sur pas une ce cette qui que il lo gli della di è sono io ho sono non anche ma "
    "der das und ist sind ich du er sie wir ihr mein meine nicht mit auf für ein eine "
    "auch aber het een en ik mijn niet ook maar zijn".split()
)


def needs_multilingual(text: str) -> bool:
    """True for text the English-only model cannot place well."""
    if _OTHER_SCRIPT.search(text):
        return True
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < 3:
        return False
    foreign = sum(w in _FOREIGN for w in words)
    english = sum(w in _ENGLISH for w in words)
    return foreign >= 2 and foreign > english
