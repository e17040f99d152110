"""Remove secrets and national identifiers from chat text before it is stored as a memory (pure).

Detection is regex based. Where a format carries a checksum (Luhn for cards, mod-97 for IBANs,
ISO 7064 mod 11-2 for Chinese resident ids) it is verified, so look-alike numbers such as order
ids survive untouched. Only the secret itself is replaced, never the sentence around it, so the
rest of the turn stays useful as a memory.

Known limits (deliberate, to keep false positives low):
- stated passwords ("my password is X") are dropped from redaction when X is a common English
  word such as "strong" or "incorrect" (see _PROSE_WORDS), so "my password is sunshine" is
  redacted but "my password is wrong" is kept; trailing ".,;:)]}" is treated as punctuation;
- generic labelled secrets ("token: ...") need 16+ characters including a digit;
- IBANs and UK NINOs must be written in upper case; US SSNs only in the 123-45-6789 form;
- a PEM private key without its END line is redacted up to the end of the text;
- 40-hex git SHAs, UUIDs and unlabelled 40-char base64 strings are not treated as secrets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["REDACTED_MARK", "Redaction", "redact"]

REDACTED_MARK = "[REDACTED"  # every replacement starts with this, so callers can spot them


@dataclass(frozen=True)
class Redaction:
    text: str  # input with every secret replaced by "[REDACTED:<kind>]"
    kinds: tuple[str, ...]  # kinds found, in order of appearance (duplicates kept)

    @property
    def found(self) -> bool:
        return bool(self.kinds)


# Token-ish neighbours: a prefix like "sk-" must start a token, not sit inside "task-id".
_NB = r"(?<![\w-])"
_NA = r"(?![\w-])"
# "label: value", "label = value", "label => value", "label is value", "标签是value", "标签：value".
_SEP = (
    r"""(?:\s*(?:["']\s*)?(?:=>|[:=：])|\s+(?:is|was)\b(?:\s*:)?|\s*(?:就是|是|为|為)\s*[:：]?)"""
    r"""\s*"""
)
# Optional opening quote; a quoted value runs to the next quote, an unquoted one to whitespace.
_VALUE = r"""(?P<q>["'`])?(?P<v>(?(q)[^"'`\n]+|[^\s"'`]+))"""
_TOKEN_CHARS = r"A-Za-z0-9_\-./+=~"
# 6-digit region, birth date YYYYMMDD, 3-digit sequence, check character.
_CN_ID = re.compile(
    r"(?<![A-Za-z0-9])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    r"\d{3}[\dXx](?![A-Za-z0-9])"
)

# Ordered by priority: on overlap the earlier rule wins, so specific kinds beat generic ones
# (e.g. "OPENAI_API_KEY=sk-..." is an openai_key, not a generic_secret). A group named "v"
# marks the part to replace; otherwise the whole match is replaced.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)"
        ),
    ),
    # header.payload.signature; both JSON parts base64url-encode "{" as "ey".
    ("jwt", re.compile(_NB + r"eyJ[A-Za-z0-9_-]{8,}\.ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),
    (
        "url_password",
        re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,15}://[^\s:/@]{1,64}:(?P<v>[^\s@/]{1,128})@"),
    ),
    (
        "slack_webhook",
        re.compile(
            r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{10,}"
        ),
    ),
    ("anthropic_key", re.compile(_NB + r"sk-ant-[A-Za-z0-9_-]{20,}")),
    # Keys have a 20+ alnum run and an upper-case letter or digit; kebab-case names do not.
    (
        "openai_key",
        re.compile(
            _NB
            + r"sk-(?:proj-|svcacct-|admin-)?(?=[\w-]*?[A-Za-z0-9]{20})(?=[\w-]*[A-Z0-9])[\w-]{20,}"
        ),
    ),
    ("stripe_key", re.compile(_NB + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("github_token", re.compile(_NB + r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,})")),
    ("slack_token", re.compile(_NB + r"(?:xox[abeoprs]|xapp)-[A-Za-z0-9-]{10,}")),
    ("google_api_key", re.compile(_NB + r"AIza[0-9A-Za-z_-]{35}" + _NA)),
    ("huggingface_token", re.compile(_NB + r"hf_[A-Za-z0-9]{30,}")),
    ("aws_access_key", re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")),
    # Unlabelled 40-char base64 is too common (hashes, ids) to redact, so a label is required.
    (
        "aws_secret_key",
        re.compile(
            r"(?i)(?:aws[_\s.-]?secret(?:[_\s.-]?access)?(?:[_\s.-]?key)?"
            r"|secret[_\s.-]?access[_\s.-]?key)"
            + _SEP
            + r"""["'`]?(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"""
        ),
    ),
    ("bearer_token", re.compile(r"(?i)\bbearer\s+(?P<v>(?=[\w\-.~+/]*\d)[\w\-.~+/]{16,}=*)")),
    ("basic_auth", re.compile(r"(?i)\bauthorization\s*:\s*basic\s+(?P<v>[A-Za-z0-9+/]{8,}={0,2})")),
    # Chinese has no word boundaries; the value is ASCII so it stops at "，" or "。".
    ("password", re.compile(r"(?:密码|密碼|口令)" + _SEP + r"""["'“「]?(?P<v>[!-~]+)""")),
    (
        "password",
        re.compile(
            r"(?i)(?<![A-Za-z0-9])(?:password|passwd|passcode|passphrase|pwd)s?\b"
            r"(?:\s+(?:for|of|to|on)\s+[\w.@-]+(?:\s+[\w.@-]+){0,2})?" + _SEP + _VALUE
        ),
    ),
    ("pin", re.compile(r"(?i)\bpin(?:\s?code)?\s*(?:is\b|[:=])\s*(?P<v>\d{4,8})\b")),
    (
        "generic_secret",
        re.compile(
            r"(?i)(?:(?<![A-Za-z0-9])(?:api[_.\s-]?key|apikey|access[_.\s-]?key"
            r"|(?:access|auth|refresh|session)[_.-]?token|client[_.-]?secret|secret[_.\s-]?key"
            r"|secret|token|credentials?|private[_.-]?key)\b|密钥|秘钥|令牌)"
            + _SEP
            + rf"""["'`]?(?P<v>(?=[{_TOKEN_CHARS}]*\d)[{_TOKEN_CHARS}]{{16,}})"""
        ),
    ),
    ("cn_id", _CN_ID),
    (
        "iban",
        re.compile(
            r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b"
        ),
    ),
    # Contiguous digits or groups of four (Amex 4-6-5); a lone "1234 5678" never gets this far.
    (
        "card_number",
        re.compile(
            r"(?<![\w+.-])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?"
            r"|\d{4}[ -]\d{6}[ -]\d{4,5})(?![\w-])"
        ),
    ),
    ("us_ssn", re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")),
    (
        "uk_nino",
        re.compile(
            r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
            r" ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
        ),
    ),
)

# Words that follow "password is" in ordinary prose; such a "value" is not a secret.
_PROSE_TEXT = """
    a an the and or but not no none null nil empty blank too very so also still now just only
    always never usually probably likely currently really actually same different wrong correct
    incorrect invalid valid weak strong secure insecure safe unsafe long short simple easy hard
    good bad required optional missing case sensitive secret private mine yours his hers ours
    theirs my your our their here there what which that this it set reset saved stored hashed
    encrypted changed expired protected updated needed used shared leaked compromised locked
    unlocked being changing expiring working nothing something incorrectly on in at under behind
    inside written printed taped stuck"""
_PROSE_WORDS = frozenset(_PROSE_TEXT.split())
# Masks and placeholders: "********", "xxxx", "<your-password>", "$DB_PASSWORD", "{{ pw }}".
_PLACEHOLDER = re.compile(r"[*•·xX#.]{3,}|<[^<>]*>|\$\{?[A-Za-z_]\w*\}?|\{\{.*\}\}")
_TRAILING_PUNCT = ".,;:)]}\"'”」"
_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def redact(text: str) -> Redaction:
    """Replace every detected secret in `text` with "[REDACTED:<kind>]"."""
    taken: list[tuple[int, int, str]] = []
    owned = bytearray(len(text))  # 1 where a higher-priority rule already matched
    for kind, pattern in _RULES:
        for match in pattern.finditer(text):
            span = _secret_span(kind, match)
            if span is None or owned.find(1, *span) != -1:
                continue
            start, end = span
            owned[start:end] = b"\x01" * (end - start)
            taken.append((start, end, kind))
    if not taken:
        return Redaction(text, ())
    taken.sort()
    parts: list[str] = []
    pos = 0
    for start, end, kind in taken:
        parts.append(text[pos:start])
        parts.append(f"{REDACTED_MARK}:{kind}]")
        pos = end
    parts.append(text[pos:])
    return Redaction("".join(parts), tuple(kind for _, _, kind in taken))


def _secret_span(kind: str, match: re.Match[str]) -> tuple[int, int] | None:
    group: int | str = "v" if "v" in match.re.groupindex else 0
    start, end = match.span(group)
    value = match.group(group)
    if kind in ("password", "pin"):
        trimmed = value.rstrip(_TRAILING_PUNCT)  # sentence punctuation, not part of the secret
        end -= len(value) - len(trimmed)
        return (start, end) if trimmed and not _looks_like_prose(trimmed) else None
    return (start, end) if _valid(kind, value) else None


def _valid(kind: str, value: str) -> bool:
    if kind == "card_number":
        digits = re.sub(r"[ -]", "", value)
        # Issued cards start with 2-6; that also rules out ISBN-13 (978/979) and ms timestamps.
        if digits == value and _CN_ID.fullmatch(value):
            return False  # id layout with a bad check digit: a typo'd id, not a card
        return 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn(digits)
    if kind == "iban":
        return _iban_ok(value.replace(" ", ""))
    if kind == "cn_id":
        return _cn_id_ok(value.upper())
    return True


def _looks_like_prose(value: str) -> bool:
    if value.startswith(REDACTED_MARK) or _PLACEHOLDER.fullmatch(value):
        return True  # already redacted, masked, or a template/env reference
    return value.isascii() and value.isalpha() and value.lower() in _PROSE_WORDS


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _iban_ok(iban: str) -> bool:
    # ISO 13616: move the first four characters to the end, letters become 10..35, mod 97 == 1.
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _cn_id_ok(cid: str) -> bool:
    # GB 11643: ISO 7064 mod 11-2 check character, plus a real calendar date at positions 7-14.
    total = sum(int(d) * w for d, w in zip(cid[:17], _CN_WEIGHTS, strict=True))
    if "10X98765432"[total % 11] != cid[17]:
        return False
    year, month, day = int(cid[6:10]), int(cid[10:12]), int(cid[12:14])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if month == 2 and day == 29 and not leap:
        return False
    return day <= _DAYS_IN_MONTH[month - 1]
