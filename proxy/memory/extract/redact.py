"""Remove secrets, national identifiers and (by default) contacts from chat text before it is
stored anywhere (pure).

The rules (proxy/memory/extract/secret_rules.py) match on a normalised view of the text (NFKC,
zero-width characters removed: proxy/memory/extract/normalise.py), so full-width digits and a
key with an invisible character inside are found; what is replaced is the matching span of the
original, so the rest of the turn stays as the user wrote it. Where a format carries a checksum
(Luhn for cards, mod-97 and the country's length for IBANs, ISO 7064 for Chinese ids) it is
verified, so look-alikes such as order numbers survive. Every pattern runs in linear time.

Known limits (deliberate, to keep false positives low):
- a stated password ("my password is X") is kept when X is a common word in prose ("strong",
  "wrong", "vergessen": see secret_rules.PROSE_WORDS), so "my password is sunshine" is redacted
  but "my password is wrong" is not; after a bare space ("мой пароль X") X must hold a digit, a
  symbol or mixed case; trailing ".,;:)]}" is punctuation;
- generic labelled secrets ("token: ...") need 16+ characters including a digit;
- UK NINOs must be upper case; an SSN without dashes, the 15-digit Chinese id and a seed phrase
  need their label; a PEM private key without its END line is redacted to the end of the text;
- 40-hex git SHAs, UUIDs and unlabelled 40-char base64 strings are not treated as secrets;
- phone numbers are found by shape (international +..., North American, Chinese mobile) or by a
  label ("phone", "call me at", "手机"); other national formats without a label are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxy.memory.extract.normalise import View, normalise
from proxy.memory.extract.secret_rules import (
    CONTACT_RULES,
    PLACEHOLDER,
    PROSE_WORDS,
    SECRET_RULES,
    Rule,
    secretish,
)

__all__ = ["CONTACT_KINDS", "REDACTED_MARK", "Redaction", "redact"]

REDACTED_MARK = "[REDACTED"  # every replacement starts with this, so callers can spot them
CONTACT_KINDS = frozenset(rule.kind for rule in CONTACT_RULES)
_TRAILING_PUNCT = ".,;:)]}\"'”」!?。，；！？"


@dataclass(frozen=True)
class Redaction:
    text: str  # input with every secret replaced by "[REDACTED:<kind>]"
    kinds: tuple[str, ...]  # kinds found, in order of appearance (duplicates kept)

    @property
    def found(self) -> bool:
        return bool(self.kinds)


def redact(text: str, *, contacts: bool = True) -> Redaction:
    """Replace every detected secret in `text` with "[REDACTED:<kind>]"; with `contacts`,
    emails and phone numbers too (the `write.redact_contacts` setting)."""
    if not text:
        return Redaction(text, ())
    view = normalise(text)
    lower = view.text.lower()
    rules = SECRET_RULES + CONTACT_RULES if contacts else SECRET_RULES
    taken: list[tuple[int, int, str]] = []
    owned = bytearray(len(view.text))  # 1 where a higher-priority rule already matched
    for rule in rules:
        if rule.triggers and not any(trigger in lower for trigger in rule.triggers):
            continue
        for match in rule.pattern.finditer(view.text):
            for start, end in _spans(rule, match):
                if owned.find(1, start, end) != -1:
                    continue
                owned[start:end] = b"\x01" * (end - start)
                taken.append((start, end, rule.kind))
    if not taken:
        return Redaction(text, ())
    return _replace(text, view, taken)


def _spans(rule: Rule, match: re.Match[str]) -> list[tuple[int, int]]:
    """The spans of `match` to replace (none when its value turns out not to be a secret)."""
    groups = match.re.groupindex
    group: int | str = "v" if "v" in groups else 0
    start, end = match.span(group)
    value: str = match.group(group)
    if rule.stated:
        trimmed = value.rstrip(_TRAILING_PUNCT)  # sentence punctuation, not part of the secret
        end -= len(value) - len(trimmed)
        value = trimmed
        if not value or _looks_like_prose(value):
            return []
        if "bare" in groups and match.group("bare") is not None and not secretish(value):
            return []
    if rule.check is not None and not rule.check(value):
        return []
    if rule.pieces is not None:
        return [(start + m.start(), start + m.end()) for m in rule.pieces.finditer(value)]
    return [(start, end)]


def _looks_like_prose(value: str) -> bool:
    if value.startswith(REDACTED_MARK) or PLACEHOLDER.fullmatch(value):
        return True  # already redacted, masked, or a template/env reference
    return value.isalpha() and value.lower() in PROSE_WORDS


def _replace(text: str, view: View, taken: list[tuple[int, int, str]]) -> Redaction:
    taken.sort()
    parts: list[str] = []
    kinds: list[str] = []
    pos = 0
    for start, end, kind in taken:
        start, end = view.span_in_original(start, end)
        if start < pos:  # two spans of one original character (an NFKC expansion): merged
            continue
        parts.append(text[pos:start])
        parts.append(f"{REDACTED_MARK}:{kind}]")
        kinds.append(kind)
        pos = end
    parts.append(text[pos:])
    return Redaction("".join(parts), tuple(kinds))
