"""Tests for proxy.memory.extract.redact: secrets go, look-alikes and the surrounding prose stay.

Every credential below is fake. Most are assembled by concatenation so the file does not look
like a leaked secret to scanners.
"""

from __future__ import annotations

import dataclasses

import pytest

from proxy.memory.extract.redact import REDACTED_MARK, Redaction, redact

_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _cn_id(base17: str) -> str:
    """Append the GB 11643 (ISO 7064 mod 11-2) check character to a 17-digit base."""
    total = sum(int(d) * w for d, w in zip(base17, _CN_WEIGHTS, strict=True))
    return base17 + "10X98765432"[total % 11]


def _bad_check(cid: str) -> str:
    """The same id with a wrong check character."""
    return cid[:17] + ("1" if cid[17] != "1" else "2")


MIX = "a1B2c3D4e5F6g7H8"  # mixed-case filler for key bodies
OPENAI_LEGACY = "sk-" + "T3Blbk" + MIX * 3
OPENAI_PROJ = "sk-" + "proj-" + "A" * 40
OPENAI_SVC = "sk-" + "svcacct-" + MIX * 4
OPENAI_ADMIN = "sk-" + "admin-" + MIX * 3
ANTHROPIC = "sk-" + "ant-" + "api03-" + MIX * 5 + "-xyzAA"
AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_STS = "ASIA" + "Y34FZKBOKMUTVV7A"
AWS_SECRET = "wJalrXUtnFEMI" + "/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"
GH_BODY = "Xy9" + "abcdefGHIJKLmnop" + "qrst1234uvwxYZ567"  # 36 chars
GH_PAT = "github_" + "pat_" + "11ABCDEFG0" + "x" * 12 + "_" + MIX * 4
SLACK_BODY = "-123456789012" + "-123456789012" + "-" + "AbCdEf" * 4
SLACK_HOOK = "https://hooks.slack.com/services/" + "T00000000/B00000000/" + "X" * 24
GOOGLE = "AIza" + "SyD-9tSrke72PouQMnMX" + "-a7eZSW0jkFMBWY"
STRIPE_BODY = "4eC39HqLyjWDarjtT1" + "zdp7dc"
HF = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz" + "12345678"
GENERIC = "9f8e7d6c5b4a3928" + "1706f5e4d3c2b1a0"
OPAQUE = "mF_9.B5f-4.1JqM" + "2hQm0XnT"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    + ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
CN_ID = _cn_id("11010519491231002")  # ends in "X"
CN_ID_2 = _cn_id("44030419900307123")


def _pem(label: str) -> str:
    return f"-----BEGIN {label}-----\n{PEM_BODY}-----END {label}-----"


# (text, secret that must disappear, expected kind)
SECRETS: list[tuple[str, str, str]] = [
    (f"my key is {OPENAI_LEGACY}", OPENAI_LEGACY, "openai_key"),
    (f"use {OPENAI_PROJ} for the bot", OPENAI_PROJ, "openai_key"),
    (f"service account: {OPENAI_SVC}", OPENAI_SVC, "openai_key"),
    (f"admin key {OPENAI_ADMIN}.", OPENAI_ADMIN, "openai_key"),
    (f"OPENAI_API_KEY={OPENAI_PROJ}", OPENAI_PROJ, "openai_key"),
    (f"claude key {ANTHROPIC}", ANTHROPIC, "anthropic_key"),
    (f'ANTHROPIC_API_KEY="{ANTHROPIC}"', ANTHROPIC, "anthropic_key"),
    (f"access key id {AWS_ID}", AWS_ID, "aws_access_key"),
    (f"temporary creds {AWS_STS} expire soon", AWS_STS, "aws_access_key"),
    (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET, "aws_secret_key"),
    (f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET, "aws_secret_key"),
    (f'{{"SecretAccessKey": "{AWS_SECRET}"}}', AWS_SECRET, "aws_secret_key"),
    (f"my aws secret key is {AWS_SECRET}", AWS_SECRET, "aws_secret_key"),
    (f"token ghp_{GH_BODY}", "ghp_" + GH_BODY, "github_token"),
    (f"oauth gho_{GH_BODY}", "gho_" + GH_BODY, "github_token"),
    (f"user-to-server ghu_{GH_BODY}", "ghu_" + GH_BODY, "github_token"),
    (f"app ghs_{GH_BODY} here", "ghs_" + GH_BODY, "github_token"),
    (f"refresh ghr_{GH_BODY}", "ghr_" + GH_BODY, "github_token"),
    (f"fine-grained {GH_PAT}", GH_PAT, "github_token"),
    (f"bot xoxb{SLACK_BODY}", "xoxb" + SLACK_BODY, "slack_token"),
    (f"user xoxp{SLACK_BODY}", "xoxp" + SLACK_BODY, "slack_token"),
    (f"app xoxa{SLACK_BODY}", "xoxa" + SLACK_BODY, "slack_token"),
    (f"session xoxs{SLACK_BODY}", "xoxs" + SLACK_BODY, "slack_token"),
    (f"post alerts to {SLACK_HOOK}", SLACK_HOOK, "slack_webhook"),
    (f"maps key {GOOGLE}", GOOGLE, "google_api_key"),
    (f"stripe sk_live_{STRIPE_BODY}", "sk_live_" + STRIPE_BODY, "stripe_key"),
    (f"restricted rk_live_{STRIPE_BODY}", "rk_live_" + STRIPE_BODY, "stripe_key"),
    (f"test mode sk_test_{STRIPE_BODY}", "sk_test_" + STRIPE_BODY, "stripe_key"),
    (f"HF token {HF}", HF, "huggingface_token"),
    (f"api_key={GENERIC}", GENERIC, "generic_secret"),
    (f"token: {GENERIC}", GENERIC, "generic_secret"),
    (f"secret={GENERIC}", GENERIC, "generic_secret"),
    (f'client_secret: "{GENERIC}"', GENERIC, "generic_secret"),
    (f"X-API-Key: {GENERIC}", GENERIC, "generic_secret"),
    (f"my api key is {GENERIC}", GENERIC, "generic_secret"),
    (f"GITHUB_TOKEN={GENERIC}", GENERIC, "generic_secret"),
    (f"我的密钥是{GENERIC}，别外传", GENERIC, "generic_secret"),
    (f"Authorization: Bearer {OPAQUE}", OPAQUE, "bearer_token"),
    (f"send it with bearer {OPAQUE} please", OPAQUE, "bearer_token"),
    (f"the session jwt is {JWT}", JWT, "jwt"),
    (f"Authorization: Bearer {JWT}", JWT, "jwt"),
    ("Authorization: Basic " + "dXNlcjpw" + "YXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "basic_auth"),
    (
        "connect to postgres://admin:" + "S3cretPass" + "@db.example.com:5432/app",
        "S3cretPass",
        "url_password",
    ),
    (f"here is my key:\n{_pem('RSA PRIVATE KEY')}\nthanks", PEM_BODY.strip(), "private_key"),
    (f"{_pem('OPENSSH PRIVATE KEY')}", "BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj", "private_key"),
    (f"pkcs8:\n{_pem('PRIVATE KEY')}", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "private_key"),
    ("my password is hunter2", "hunter2", "password"),
    ("password: Tr0ub4dor&3", "Tr0ub4dor&3", "password"),
    ("pwd=s3cr3t!x", "s3cr3t!x", "password"),
    ("the passcode is 847261.", "847261", "password"),
    ("the wifi password is CoffeeShop2024, ask the barista", "CoffeeShop2024", "password"),
    ("DB_PASSWORD=correcthorse99", "correcthorse99", "password"),
    ("my password for my bank account is Blue-Moon-77", "Blue-Moon-77", "password"),
    ('passphrase: "open sesame 42"', "open sesame 42", "password"),
    ("my password is sunshine", "sunshine", "password"),
    ("密码是abc12345", "abc12345", "password"),
    ("登录密码：Qwerty!234。", "Qwerty!234", "password"),
    ("口令是 tiger2024，记住了", "tiger2024", "password"),
    ("WiFi密码: Guest@5678", "Guest@5678", "password"),
    ("my PIN is 4821", "4821", "pin"),
    ("pay with 4111 1111 1111 1111 thanks", "4111 1111 1111 1111", "card_number"),
    ("card 4111-1111-1111-1111", "4111-1111-1111-1111", "card_number"),
    ("mastercard 5555555555554444 exp 12/26", "5555555555554444", "card_number"),
    ("amex 3782 822463 10005", "3782 822463 10005", "card_number"),
    ("old visa 4222222222222", "4222222222222", "card_number"),
    ("IBAN GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32", "iban"),
    ("wire to DE89370400440532013000 today", "DE89370400440532013000", "iban"),
    ("compte FR1420041010050500013M02606", "FR1420041010050500013M02606", "iban"),
    (f"ID {CN_ID}", CN_ID, "cn_id"),
    (f"我的身份证号是{CN_ID_2}。", CN_ID_2, "cn_id"),
    (f"id {CN_ID.lower()}", CN_ID.lower(), "cn_id"),
    ("SSN 536-90-4399", "536-90-4399", "us_ssn"),
    ("my social is 123-45-6789.", "123-45-6789", "us_ssn"),
    ("NI number AB 12 34 56 C", "AB 12 34 56 C", "uk_nino"),
]


@pytest.mark.parametrize(("text", "secret", "kind"), SECRETS)
def test_secret_is_redacted(text: str, secret: str, kind: str) -> None:
    result = redact(text)
    assert secret not in result.text
    assert kind in result.kinds
    assert f"{REDACTED_MARK}:{kind}]" in result.text
    assert result.found


NEAR_MISSES: list[str] = [
    "I forgot my password",
    "Please reset your password.",
    "my password is strong",
    "The password is incorrect, try again.",
    "Password: required",
    "the password is case sensitive",
    "password reset link sent to your inbox",
    "passwords must be at least 12 characters long",
    "password=$DB_PASSWORD",
    "password: <your-password>",
    "password: ********",
    "my PIN is secret",
    "忘记密码了怎么办？",
    "请输入密码",
    "密码错误，请重试",
    "密码是什么？",
    "我住在北京，喜欢喝茶。",
    "今天是2024年5月1日，天气很好。",
    "import sklearn; from sk_learn import x",
    "pip install scikit-learn",
    "sk-learn is a common misspelling",
    "task-id 42 is done",
    "a skip-list is a data structure",
    "sketch the skills matrix",
    "sk-this-is-not-a-real-key-at-all",
    "risk-assessment-of-the-new-service-layer",
    "order number 4111 1111 1111 1112",
    "Order #1234567890123456 shipped",
    "Your order 48213 ships tomorrow",
    "the meeting is on 2024-05-01",
    "meet at 12:30",
    "deadline 2024-05-01T12:30:00Z",
    "call me at 415-555-2671",
    "my number is +86 138 0013 8000",
    "手机号13800138000",
    "London office +44 20 7946 0958",
    "upgrade to v1.2.3",
    "Python 3.11.7 and version 2.10.0-rc1",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it",
    "request 123e4567-e89b-12d3-a456-426614174000 failed",
    "it costs $1,299.99",
    "售价¥8,888.00",
    "ZIP 94103",
    "ISBN 978-3-16-148410-0",
    "ISBN 0-306-40615-2",
    "room 101 on floor 42",
    "max_tokens=4096 temperature=0.7",
    "Use a Bearer token in the Authorization header",
    "Authorization: Bearer <token>",
    "api_key=YOUR_API_KEY_HERE",
    "token: abc",
    "the secret is to add salt early",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----",
    "AKIA is the prefix of AWS access key ids",
    "IBAN GB82 WEST 1234 5698 7654 33",
    f"id {_bad_check(CN_ID_2)}",
    "SSN-like 000-12-3456",
    "SSN-like 666-12-3456",
    "SSN-like 912-34-5678",
    "mail alice@example.com",
    "http://localhost:8080/v1/chat/completions",
    "call hf_hub_download to fetch it",
    "tokens starting with ghp_ are GitHub tokens",
    "the header starts with eyJ usually",
    "xoxb is the Slack bot token prefix",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_miss_is_kept(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.kinds == ()
    assert not result.found


def test_counts_meet_the_brief() -> None:
    assert len(SECRETS) >= 55
    assert len(NEAR_MISSES) >= 55


def test_surrounding_text_is_kept() -> None:
    text = f"I live in Berlin and my API key is {OPENAI_PROJ}; I like tea"
    result = redact(text)
    assert result.text == "I live in Berlin and my API key is [REDACTED:openai_key]; I like tea"
    assert result.kinds == ("openai_key",)


def test_surrounding_chinese_text_is_kept() -> None:
    result = redact("我住在上海，密码是abc12345，喜欢猫")
    assert result.text == "我住在上海，密码是[REDACTED:password]，喜欢猫"


def test_only_the_password_value_is_replaced() -> None:
    result = redact("my password is hunter2, and my name is Bob.")
    assert result.text == "my password is [REDACTED:password], and my name is Bob."


def test_private_key_keeps_lines_around_it() -> None:
    result = redact(f"before\n{_pem('EC PRIVATE KEY')}\nafter")
    assert result.text == "before\n[REDACTED:private_key]\nafter"


def test_kinds_in_order_of_appearance_with_duplicates() -> None:
    text = f"card 4111 1111 1111 1111, key {OPENAI_PROJ}, backup card 5555555555554444"
    result = redact(text)
    assert result.kinds == ("card_number", "openai_key", "card_number")


def test_specific_kind_wins_over_generic_label() -> None:
    assert redact(f"api_key={AWS_ID}").kinds == ("aws_access_key",)
    assert redact(f"password: {OPENAI_PROJ}").kinds == ("openai_key",)


def test_redaction_is_idempotent() -> None:
    first = redact(f"my password is hunter2 and card 4111111111111111, id {CN_ID}")
    second = redact(first.text)
    assert second.text == first.text
    assert second.kinds == ()


def test_result_is_frozen_and_empty_input_is_fine() -> None:
    result = redact("")
    assert result == Redaction("", ())
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.text = "x"  # type: ignore[misc]
