"""Check digits and layouts of numbers that look like secrets (pure): a look-alike order number
or hash that fails its format's checksum is left alone."""

from __future__ import annotations

import re

__all__ = ["card_ok", "cn_id15_ok", "cn_id_ok", "iban_ok", "luhn", "ssn_ok"]

_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_SEPARATORS = re.compile(r"[ .\-]")
# ISO 13616 lengths by country (the SWIFT IBAN registry): a two-letter prefix that is not a
# country, or the wrong length for it, is not an IBAN, however its mod-97 comes out.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def digits_of(value: str) -> str:
    return _SEPARATORS.sub("", value)


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def card_ok(value: str) -> bool:
    """13-19 digits starting 2-6 (issued cards; rules out ISBN-13 and ms timestamps), Luhn."""
    digits = digits_of(value)
    return digits.isdigit() and 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn(digits)


def iban_ok(value: str) -> bool:
    """Country, length and ISO 7064 mod 97-10 (letters become 10..35, mod 97 == 1)."""
    iban = value.replace(" ", "").replace("-", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _date_ok(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if month == 2 and day == 29 and not leap:
        return False
    return day <= _DAYS_IN_MONTH[month - 1]


def cn_id_ok(value: str) -> bool:
    """GB 11643: 18 characters, a real birth date, the ISO 7064 mod 11-2 check character."""
    cid = digits_of(value).upper()
    if len(cid) != 18 or not cid[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(cid[:17], _CN_WEIGHTS, strict=True))
    if "10X98765432"[total % 11] != cid[17]:
        return False
    return _date_ok(int(cid[6:10]), int(cid[10:12]), int(cid[12:14]))


def cn_id15_ok(value: str) -> bool:
    """The pre-1999 15-digit id: region, YYMMDD birth date (19YY), sequence; no check digit."""
    cid = digits_of(value)
    return (
        len(cid) == 15
        and cid.isdigit()
        and cid[0] in "12345678"
        and _date_ok(1900 + int(cid[6:8]), int(cid[8:10]), int(cid[10:12]))
    )


def ssn_ok(value: str) -> bool:
    """US SSN: 9 digits; area not 000, 666 or 9xx; group not 00; serial not 0000."""
    ssn = digits_of(value)
    if len(ssn) != 9 or not ssn.isdigit():
        return False
    area, group, serial = ssn[:3], ssn[3:5], ssn[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"
