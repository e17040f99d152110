"""The patterns of secrets, national ids and contacts, in priority order (pure data).

Every pattern must run in linear time: no unbounded lookahead over a class the match goes on to
consume, and every repetition bounded (`"token=" * 2666` once took 624 ms in one lookahead).
What a pattern cannot say cheaply (a digit somewhere in the value, a checksum, a word that is
prose, not a secret) is checked in Python on the match. Each rule names the lower-case strings
of which one must occur in the text for it to run at all: most texts hold none, and skip it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from proxy.memory.extract import checksums

__all__ = ["CONTACT_RULES", "PLACEHOLDER", "PROSE_WORDS", "SECRET_RULES", "Rule", "secretish"]


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    # The rule runs only when one of these occurs in the lower-cased text (empty: always).
    triggers: tuple[str, ...] = ()
    # The value (group "v", else the whole match) must pass this.
    check: Callable[[str], bool] | None = None
    # A value stated in words ("my password is X"): trailing punctuation is trimmed, and prose
    # ("my password is wrong") or a placeholder is not a secret.
    stated: bool = False
    # Within the value, only these pieces are replaced (a list of backup codes in a sentence).
    pieces: re.Pattern[str] | None = None


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _alts(words: str) -> str:
    """A regex alternation of the "|"-separated labels, longest first, spaces as \\s+."""
    labels = sorted((w.strip() for w in words.split("|") if w.strip()), key=len, reverse=True)
    return "(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in labels) + ")"


def _triggers(words: str) -> tuple[str, ...]:
    return tuple(sorted({w.strip().split(" ")[0].lower() for w in words.split("|") if w.strip()}))


_DIGIT = re.compile(r"\d")


def has_digit(value: str) -> bool:
    return _DIGIT.search(value) is not None


def _alnum_run(value: str, size: int = 20) -> bool:
    return re.search(f"[A-Za-z0-9]{{{size}}}", value) is not None


# Token-ish neighbours: a prefix like "sk-" must start a token, not sit inside "task-id". ASCII
# on purpose: Chinese text runs into a key or a number without a space ("卡号4111...").
_NB = r"(?<![A-Za-z0-9_-])"
_NA = r"(?![A-Za-z0-9_-])"
# A label is a word of its own in alphabetic scripts; Chinese, Japanese and Korean labels run
# straight into the next word ("パスワードは", "验证码是").
_LETTERS = r"A-Za-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"
_WB = rf"(?<![{_LETTERS}])"
_WA = rf"(?![{_LETTERS}])"
# "label: value", "label = value", "label => value", "label is value" (and the German, French,
# Spanish, Italian, Portuguese and Russian verbs), "标签是value", "标签：value"; or, for the
# strongest labels only, a bare space ("мой пароль qwerty1"), where the value must look secret.
_SEP = (
    r"""(?:\s*["']?\s*(?:=>|->|[:=：])\s*"""
    r"""|\s+(?:lautet|était|была|был|это|was|war|ist|est|era|is|es|è|é)""" + _WA + r"""\s*:?\s*"""
    r"""|\s+[-—–]\s+|\s*(?:就是|是|为|為|は|는|은)\s*[:：]?\s*)"""
)
_BARE = r"(?P<bare>\s+)"
# Optional opening quote; a quoted value runs to the next quote, an unquoted one to whitespace.
_VALUE = r"""(?P<q>["'`“「«])?(?P<v>(?(q)[^"'`”」»\n]{1,200}|[^\s"'`”」»]{1,200}))"""
_TOKEN_CHARS = r"A-Za-z0-9_\-./+=~"

_PASSWORD_LABELS = (
    "password|passwd|passcode|passphrase|pwd|pw|passwort|kennwort|mot de passe|mdp|contraseña"
    "|contrasena|clave de acceso|senha|parola d'ordine|wachtwoord|lösenord|losenord|adgangskode"
    "|passord|salasana|hasło|haslo|heslo|jelszó|şifre|sifre|пароль|пароля|паролем|парол|гасло"
    "|パスワード|비밀번호|암호"
)
_PASSWORD_CJK = "密码|密碼|口令"
_PIN_LABELS = (
    "pin|pin code|pin-code|pin number|pin-nummer|pin nummer|code pin|código pin|пин|пин-код"
)
_CODE_LABELS = (
    "door code|gate code|garage code|garage door code|alarm code|entry code|access code"
    "|keypad code|lock code|building code|front door code|safe code|safe combination"
    "|locker code|unlock code|lockbox code|combination|digicode|code de la porte|code porte"
    "|türcode|tür-code|haustürcode|torcode|alarmcode|código de la puerta|код домофона"
    "|код от двери|门禁码|门禁密码|开门密码"
)
_CVV_LABELS = (
    "cvv|cvv2|cvc|cvc2|csc|card security code|security code|card verification code"
    "|card verification value|安全码|安全碼"
)
_SEED_LABELS = (
    "seed phrase|seed words|recovery phrase|secret recovery phrase|recovery words"
    "|mnemonic|mnemonic phrase|backup phrase|wallet phrase|wallet words|wallet seed"
    "|12-word phrase|24-word phrase|wiederherstellungsphrase"
    "|phrase de récupération|frase semilla|frase de recuperación|сид-фраза|сид фраза"
    "|мнемоническая фраза|助记词|助記詞|钱包助记词"
)
_PASSPORT_LABELS = (
    "passport number|passport no|passport nr|passport #|passport|reisepassnummer|reisepass"
    "|passnummer|numéro de passeport|passeport|número de pasaporte|pasaporte|passaporto"
    "|passaporte|паспорт|номер паспорта|护照号码|护照号|护照|護照號碼|護照"
)
_BACKUP_LABELS = (
    "backup codes|backup code|recovery codes|recovery code|2fa codes|2fa code|2fa backup codes"
    "|mfa codes|mfa code|one-time codes|one-time code|otp code|otp|verification code"
    "|security codes|authenticator codes|backup-codes|wiederherstellungscodes"
    "|codes de secours|códigos de respaldo|резервные коды|备用码|恢复码|验证码|驗證碼"
)
_NATIONAL_ID_LABELS = (
    "national id number|national id|national identity number|national insurance number"
    "|id card number|identity card number|identity number|id number|personalausweisnummer"
    "|personalausweis|ausweisnummer|steuer-id|steueridentifikationsnummer"
    "|numéro de sécurité sociale|numéro fiscal|dni|nie|nif|cpf|aadhaar|pesel|bsn"
    "|codice fiscale|身份证号码|身份证号|身份證號碼|居民身份证"
)
_SECRET_LABELS = (
    "api key|api-key|api_key|apikey|access key|access-key|access_key|access token|access_token"
    "|auth token|auth_token|refresh token|refresh_token|session token|session_token"
    "|client secret|client_secret|secret key|secret-key|secret_key|secret|token|credentials"
    "|credential|private key|private_key|app secret|webhook secret|signing secret"
    "|encryption key|master key|license key|licence key|recovery key|x-api-key"
)

# Words that follow "password is" in ordinary prose, in the languages above; not secrets.
_PROSE_TEXT = """
    a an the and or but not no none null nil empty blank too very so also still now just only
    always never usually probably likely currently really actually same different wrong correct
    incorrect invalid valid weak strong secure insecure safe unsafe long short simple easy hard
    good bad required optional missing case sensitive secret private mine yours his hers ours
    theirs my your our their here there what which that this it set reset saved stored hashed
    encrypted changed expired protected updated needed used shared leaked compromised locked
    unlocked being changing expiring working nothing something incorrectly on in at under behind
    inside written printed taped stuck ready due forgotten lost new old same fine ok okay
    manager managers field fields prompt screen page reset hint hints policy policies rules
    length strength change changes expiry requirement requirements protected-by for of to from
    with without by is are was were be been has have had will would should can could must
    falsch richtig vergessen geändert sicher unsicher zu lang kurz neu alt mein meine dein
    faux vrai oublié changé sécurisé trop nouveau ancien mon ma
    incorrecto correcto olvidado cambiado seguro nuevo viejo mi
    неверный неправильный забыт забыл забыла изменён изменен новый старый мой
    """
PROSE_WORDS = frozenset(_PROSE_TEXT.split())
# Masks and placeholders: "********", "xxxx", "<your-password>", "$DB_PASSWORD", "{{ pw }}".
PLACEHOLDER = re.compile(
    r"[*•·xX#.]{3,}|<[^<>]{0,100}>|\$\{?[A-Za-z_]\w{0,100}\}?|\{\{.{0,100}\}\}|\[REDACTED[^\]]*\]"
)


def secretish(value: str) -> bool:
    """What a bare-space value must look like: a digit or a symbol in it, or mixed case."""
    return has_digit(value) or not value.isalnum() or (value != value.lower() and len(value) > 5)


def _bip39ish(value: str) -> bool:
    return 12 <= len(re.findall(r"[a-z]{2,10}", value)) <= 24


def _passport(value: str) -> bool:
    return sum(ch.isdigit() for ch in value) >= 5


def _national_id(value: str) -> bool:
    return sum(ch.isdigit() for ch in value) >= 6


# 18 digits in the layout of a Chinese id whose check digit failed: a typo'd id, not a card.
_CN_ID_LAYOUT = re.compile(
    r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{4}"
)
_PW = _alts(_PASSWORD_LABELS)
SECRET_RULES: tuple[Rule, ...] = (
    Rule(
        "private_key",
        _rx(
            r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)"
        ),
        ("private key",),
    ),
    # header.payload.signature; both JSON parts base64url-encode "{" as "ey".
    Rule(
        "jwt",
        _rx(_NB + r"eyJ[A-Za-z0-9_-]{8,4096}\.ey[A-Za-z0-9_-]{8,8192}\.[A-Za-z0-9_-]{0,4096}"),
        ("eyj",),
    ),
    Rule(
        "url_password",
        _rx(r"(?i)\b[a-z][a-z0-9+.-]{1,15}://[^\s:/@]{1,64}:(?P<v>[^\s@/]{1,128})@"),
        ("://",),
    ),
    Rule(
        "slack_webhook",
        _rx(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{10,512}"),
        ("hooks.slack.com",),
    ),
    Rule("anthropic_key", _rx(_NB + r"sk-ant-[A-Za-z0-9_-]{20,512}"), ("sk-ant-",)),
    # Keys have a run of 20+ letters and digits; kebab-case names ("sk-learn-...") do not.
    Rule(
        "openai_key",
        _rx(_NB + r"sk-(?:proj-|svcacct-|admin-)?[\w-]{20,512}"),
        ("sk-",),
        check=_alnum_run,
    ),
    Rule(
        "stripe_key",
        _rx(_NB + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,256}"),
        ("_live_", "_test_"),
    ),
    Rule(
        "github_token",
        _rx(_NB + r"(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_\w{30,255})"),
        ("gh", "github_pat_"),
    ),
    Rule("gitlab_token", _rx(_NB + r"glpat-[A-Za-z0-9_-]{20,64}"), ("glpat-",)),
    Rule("slack_token", _rx(_NB + r"(?:xox[abeoprs]|xapp)-[A-Za-z0-9-]{10,255}"), ("xox", "xapp-")),
    Rule("google_api_key", _rx(_NB + r"AIza[0-9A-Za-z_-]{35}" + _NA), ("aiza",)),
    Rule("huggingface_token", _rx(_NB + r"hf_[A-Za-z0-9]{30,64}"), ("hf_",)),
    Rule(
        "llm_provider_key",  # Groq, xAI, Perplexity, Replicate, OpenRouter, Fireworks, DeepSeek
        _rx(_NB + r"(?:gsk_|xai-|pplx-|r8_|sk-or-v1-|fw_)[A-Za-z0-9_-]{20,128}"),
        ("gsk_", "xai-", "pplx-", "r8_", "sk-or-", "fw_"),
        check=has_digit,
    ),
    Rule("npm_token", _rx(_NB + r"npm_[A-Za-z0-9]{36}" + _NA), ("npm_",)),
    Rule("pypi_token", _rx(_NB + r"pypi-AgE[A-Za-z0-9_-]{50,512}"), ("pypi-age",)),
    Rule(
        "sendgrid_key",
        _rx(_NB + r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}"),
        ("sg.",),
    ),
    Rule("shopify_token", _rx(_NB + r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"), ("shp",)),
    Rule("digitalocean_token", _rx(_NB + r"do[opr]_v1_[a-f0-9]{64}"), ("_v1_",)),
    Rule("twilio_key", _rx(r"(?<![A-Za-z0-9])SK[0-9a-f]{32}(?![A-Za-z0-9])"), ("sk",)),
    Rule(
        "telegram_bot_token", _rx(r"(?<!\d)\d{8,10}:AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])"), (":aa",)
    ),
    Rule(
        "aws_access_key",
        _rx(
            r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}(?![A-Za-z0-9])"
        ),
        ("akia", "asia", "agpa", "aida", "aroa", "aipa", "anpa", "anva"),
    ),
    # Unlabelled 40-char base64 is too common (hashes, ids) to redact, so a label is required.
    Rule(
        "aws_secret_key",
        _rx(
            r"(?i)(?:aws[_\s.-]?secret(?:[_\s.-]?access)?(?:[_\s.-]?key)?"
            r"|secret[_\s.-]?access[_\s.-]?key)"
            + _SEP
            + r"""["'`]?(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"""
        ),
        ("secret",),
    ),
    Rule(
        "bearer_token",
        _rx(r"(?i)\bbearer\s+(?P<v>[\w\-.~+/]{16,4096}=*)"),
        ("bearer",),
        check=has_digit,
    ),
    Rule(
        "basic_auth",
        _rx(r"(?i)\bauthorization\s*:\s*basic\s+(?P<v>[A-Za-z0-9+/]{8,4096}={0,2})"),
        ("basic",),
    ),
    # Chinese has no word boundaries; the value is ASCII so it stops at "，" or "。".
    Rule(
        "password",
        _rx(f"(?:{_PASSWORD_CJK})" + _SEP + r"""["'“「]?(?P<v>[!-~]{1,200})"""),
        ("密码", "密碼", "口令"),
        stated=True,
    ),
    Rule(
        "password",
        _rx(
            r"(?i)"
            + _WB
            + _PW
            + r"(?:s|e|a|u|om)?"
            + _WA
            # "password for my bank account is X"
            + r"(?:\s+(?:for|of|to|on|für|pour|de|para|для|от)\s+[\w.@-]{1,64}"
            + r"(?:\s+[\w.@-]{1,64}){0,2})?"
            + f"(?:{_SEP}|{_BARE})"
            + _VALUE
        ),
        _triggers(_PASSWORD_LABELS),
        stated=True,
    ),
    # "my pass is X" / "pass: X": only in those shapes, "pass" is an everyday word.
    Rule(
        "password",
        _rx(r"(?i)(?:\bmy\s+pass\s*(?:is\b|[:=])|(?<![A-Za-z0-9_-])pass\s*[:=])\s*" + _VALUE),
        ("pass",),
        check=lambda value: secretish(value) or len(value) >= 8,
        stated=True,
    ),
    # "I use X as my password", "X is my password", "set my password to X", "X ist mein Passwort".
    Rule(
        "password",
        _rx(
            r"(?i)\b(?:use|using|used|chose|picked)\s+(?P<q>[\"'`])?(?P<v>[^\s\"'`]{3,200})(?(q)[\"'`])"
            r"\s+(?:as|for)\s+(?:my|the|our)\s+(?:new\s+)?" + _PW + r"\b"
        ),
        _triggers(_PASSWORD_LABELS),
        stated=True,
    ),
    Rule(
        "password",
        _rx(
            r"(?i)(?<!\S)(?P<v>[^\s\"'`]{4,200})\s+(?:is|was|ist|est|es|è|это)\s+(?:my|the|our|mein"
            r"|meine|das|mon|le|mi|la|il|мой)\s+(?:new\s+|neues\s+|nouveau\s+)?" + _PW + r"\b"
        ),
        _triggers(_PASSWORD_LABELS),
        stated=True,
    ),
    Rule(
        "password",
        _rx(
            r"(?i)\b(?:set|changed?|reset|updated?)\s+(?:my|the|our)\s+"
            + _PW
            + r"\s+to\s+"
            + _VALUE
        ),
        _triggers(_PASSWORD_LABELS),
        stated=True,
    ),
    # Credentials in pairs: "login alice / X", "user: alice, pass X", "creds alice:X".
    Rule(
        "password",
        _rx(
            r"(?i)\b(?:login|log-in|username|user|benutzer|utilisateur|usuario|логин|account"
            r"|creds|credentials)\s*[:=]?\s*(?=[\w.@+-]{0,63}[A-Za-z])[\w.@+-]{1,64}"
            r"(?:\s*[/|]\s*|:(?=\S))(?P<v>[^\s/|]{1,200})"
        ),
        (
            "login",
            "log-in",
            "user",
            "benutzer",
            "utilisateur",
            "usuario",
            "логин",
            "account",
            "creds",
            "credentials",
        ),
        check=lambda v: secretish(v) and not v.startswith(("http", "//")),
        stated=True,
    ),
    Rule(
        "pin",
        _rx(
            r"(?i)" + _WB + _alts(_PIN_LABELS) + _WA + r"(?:\s+(?:number|no\.?))?"
            f"(?:{_SEP}|\\s+)" + r"(?P<v>\d{4,12})(?!\d)"
        ),
        _triggers(_PIN_LABELS),
    ),
    Rule(
        "access_code",
        _rx(
            r"(?i)"
            + _WB
            + _alts(_CODE_LABELS)
            + f"(?:{_SEP}|\\s+)"
            + r"(?P<v>[#*]?\d{3,12}[#*]?|[A-Za-z]{0,2}\d{3,12}[A-Za-z#*]?)(?![A-Za-z0-9_-])"
        ),
        _triggers(_CODE_LABELS),
    ),
    Rule(
        "card_cvv",
        _rx(
            r"(?i)" + _WB + _alts(_CVV_LABELS) + _WA + f"(?:{_SEP}|\\s+)" + r"(?P<v>\d{3,4})(?!\d)"
        ),
        _triggers(_CVV_LABELS),
    ),
    Rule(
        "seed_phrase",
        _rx(
            r"(?i)" + _WB + _alts(_SEED_LABELS) + r"(?:\s+(?:is|was|are)\b|\s*[:：=-])\s*"
            r"[\"'“]?(?P<v>(?-i:[a-z]{2,10}(?:[ ,]{1,3}[a-z]{2,10}){11,23}))"
        ),
        _triggers(_SEED_LABELS),
        check=_bip39ish,
    ),
    Rule(
        "passport_number",
        _rx(
            r"(?i)"
            + _WB
            + _alts(_PASSPORT_LABELS)
            + r"(?:\s+(?:number|no\.?|nr\.?|#|id))?"
            + f"(?:{_SEP}|\\s+)"
            + r"(?P<v>[A-Za-z]{0,2}\d[A-Za-z0-9]{4,9})(?![A-Za-z0-9])"
        ),
        _triggers(_PASSPORT_LABELS),
        check=_passport,
    ),
    Rule(
        "backup_codes",
        _rx(
            r"(?i)" + _WB + _alts(_BACKUP_LABELS) + _WA + r"(?:\s+(?:are|is))?"
            r"\s*[:：=-]?\s*(?P<v>[^\n]{4,400})"
        ),
        _triggers(_BACKUP_LABELS),
        pieces=_rx(
            r"(?<![A-Za-z0-9_-])(?=(?:[A-Za-z-]{0,20}\d){2})[A-Za-z0-9]{3,10}(?:-[A-Za-z0-9]{3,10}){0,3}"
            r"(?![A-Za-z0-9_-])"
        ),
    ),
    Rule(
        "generic_secret",
        _rx(
            r"(?i)(?:(?<![A-Za-z0-9])"
            + _alts(_SECRET_LABELS)
            + r"\b|密钥|秘钥|令牌)"
            + _SEP
            + rf"""["'`]?(?P<v>[{_TOKEN_CHARS}]{{16,512}})"""
        ),
        (*_triggers(_SECRET_LABELS), "密钥", "秘钥", "令牌"),
        check=has_digit,
    ),
    # 6-digit region, birth date YYYYMMDD, 3-digit sequence, check character (spaces allowed).
    Rule(
        "cn_id",
        _rx(
            r"(?<![A-Za-z0-9])[1-9]\d{5}[ -]?(?:18|19|20)\d{2}[ -]?(?:0[1-9]|1[0-2])[ -]?"
            r"(?:0[1-9]|[12]\d|3[01])[ -]?\d{3}[ -]?[\dXx](?![A-Za-z0-9])"
        ),
        check=checksums.cn_id_ok,
    ),
    Rule(
        "cn_id",  # the pre-1999 15-digit form, only where it is named as an id
        _rx(
            r"(?i)(?:身份证|身份證|证件|證件|居民身份|id\s*card|identity\s*card|resident\s*id"
            r"|national\s*id)[^0-9\n]{0,12}(?P<v>[1-8]\d{14})(?!\d)"
        ),
        ("身份", "证件", "證件", "id"),
        check=checksums.cn_id15_ok,
    ),
    Rule(
        "national_id",
        _rx(
            r"(?i)"
            + _WB
            + _alts(_NATIONAL_ID_LABELS)
            + _WA
            + f"(?:{_SEP}|\\s+)"
            + r"(?P<v>[A-Za-z0-9](?:[A-Za-z0-9]|[ .-](?=[A-Za-z0-9])){5,24})(?![A-Za-z0-9])"
        ),
        _triggers(_NATIONAL_ID_LABELS),
        check=_national_id,
    ),
    Rule(
        "iban",
        _rx(
            r"(?i)(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?:[ -][A-Z0-9]{4}){2,7}"
            r"(?:[ -][A-Z0-9]{1,4})?)(?![A-Za-z0-9])"
        ),
        check=checksums.iban_ok,
    ),
    # Contiguous digits or groups of four (Amex 4-6-5), one separator throughout.
    Rule(
        "card_number",
        _rx(
            r"(?<![A-Za-z0-9_+.-])(?:\d{13,19}"
            r"|\d{4}(?P<s>[ .-])\d{4}(?:(?P=s)\d{4}){1,2}(?:(?P=s)\d{1,4})?"
            r"|\d{4}(?P<t>[ .-])\d{6}(?P=t)\d{4,5})(?![A-Za-z0-9_-]|\.\d)"
        ),
        check=lambda value: checksums.card_ok(value) and not _CN_ID_LAYOUT.fullmatch(value),
    ),
    Rule(
        "us_ssn",
        _rx(r"(?<![A-Za-z0-9_-])\d{3}-\d{2}-\d{4}(?![A-Za-z0-9_-])"),
        check=checksums.ssn_ok,
    ),
    Rule(
        "us_ssn",  # "SSN 078 05 1120", "social security number 078051120"
        _rx(
            r"(?i)\b(?:ssn|ss#|soc\.?\s*sec\.?|social\s+security)(?:\s+(?:number|no\.?|#))?"
            r"(?:\s*(?:is|:|=|#|-)\s*|\s+)(?P<v>\d{3}[ .-]?\d{2}[ .-]?\d{4})(?!\d)"
        ),
        ("ssn", "ss#", "soc", "social"),
        check=checksums.ssn_ok,
    ),
    Rule(
        "uk_nino",
        _rx(
            r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
            r" ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
        ),
    ),
)


def _phone_digits(low: int, high: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return low <= sum(ch.isdigit() for ch in value) <= high

    return check


_PHONE_LABELS = (
    "phone|phone number|tel|telephone|mobile|cell|cellphone|whatsapp|fax|call me at"
    "|call me on|text me at|text me on|reach me at|my number|handy|handynummer|telefon"
    "|telefonnummer|téléphone|portable|teléfono|móvil|celular|telefono|cellulare"
    "|телефон|мобильный|手机号码|手机号|手机|电话号码|电话|手機|電話|联系方式|微信"
)
CONTACT_RULES: tuple[Rule, ...] = (
    Rule(
        "email",
        _rx(
            r"(?<![A-Za-z0-9_.+%-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}"
            r"\.[A-Za-z]{2,24}(?![A-Za-z0-9_-])"
        ),
        ("@",),
    ),
    Rule(
        "phone",
        _rx(
            r"(?i)" + _WB + _alts(_PHONE_LABELS) + _WA + r"(?:\s+(?:number|no\.?|#))?"
            r"\s*(?:is|:|：|=|-|是|为)?\s*(?P<v>\+?\(?\d[\d ().-]{5,22}\d)(?![\d-])"
        ),
        _triggers(_PHONE_LABELS),
        check=_phone_digits(7, 15),
    ),
    Rule(  # international: +country and 7-14 more digits
        "phone",
        _rx(
            r"(?<![A-Za-z0-9_+])\+(?:\d{7,15}|\d{1,3}(?:[ .-]?\(\d{1,5}\))?(?:[ .-]\d{1,5}){1,6})"
            r"(?![A-Za-z0-9_-]|[.-]\d)"
        ),
        ("+",),
        check=_phone_digits(8, 15),
    ),
    Rule(  # North American: (415) 555-2671, 415-555-2671, 415.555.2671
        "phone",
        _rx(
            r"(?<![A-Za-z0-9_+.-])(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![A-Za-z0-9_-]|\.\d)"
        ),
    ),
    Rule(  # Chinese mobile: 13800138000, 138 0013 8000, 138-0013-8000
        "phone",
        _rx(r"(?<![A-Za-z0-9_+.-])1[3-9]\d(?:([ -]?)\d{4}\1\d{4})(?![A-Za-z0-9_-]|\.\d)"),
    ),
)
