"""Scoring answers by rules, and the figures of an arm (pure).

Rules: a keyword matches as a whole word, case-insensitively (inside text for CJK); a reference
answer or a forbidden claim matches when at least half (claims: 60%) of its content words appear
in the answer; abstaining is recognised by common phrases ("I don't know", "not mentioned").
A success is an answer that meets every `expect` criterion and makes no forbidden claim.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from proxy.eval.cases import Expect, Forbid, Probe

__all__ = [
    "ArmFigures",
    "Outcome",
    "RuleVerdict",
    "abstains",
    "content_words",
    "figures",
    "keyword_in",
    "percentile",
    "rule_verdict",
    "word_recall",
]

REFERENCE_RECALL = 0.5
CLAIM_RECALL = 0.6

_WORD = re.compile(r"\w+")
_CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_STOP = frozenset(
    "a an the and or but of to in on at for with by from as is are was were be been being it its "
    "this that these those i me my mine you your yours he him his she her they them their we us "
    "our do does did done have has had will would can could should may might must shall so than "
    "then there here what which who whom whose when where why how not no yes about into over up "
    "out just also very really some any all".split()
)
_ABSTAIN = re.compile(
    r"\b(i\s+(do\s+not|don't|dont)\s+know|i'?m\s+not\s+sure|i\s+am\s+not\s+sure|"
    r"(do\s+not|don't|dont)\s+have\s+(any\s+)?(information|details|record|memory)|"
    r"no\s+(information|record|mention)|not\s+(been\s+)?(mentioned|stated|specified|known)|"
    r"(can(no|')t|cannot)\s+(tell|say|recall|know)|unknown|no\s+idea)\b"
    r"|不知道|不清楚|没有提到",
    re.IGNORECASE,
)


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return text.replace("\u2019", "'").replace("\u2018", "'")


def keyword_in(keyword: str, text: str) -> bool:
    """Whole-word match for Latin text ("Rome" is not in "Romeo"); substring for CJK."""
    needle, haystack = normalize(keyword).strip(), normalize(text)
    if not needle:
        return False
    if _CJK.search(needle):
        return needle in haystack
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(part) for part in needle.split()) + r"(?!\w)"
    return re.search(pattern, haystack) is not None


def content_words(text: str) -> set[str]:
    words = {w for w in _WORD.findall(normalize(text)) if w not in _STOP}
    # CJK runs are one \w+ token: count their characters, so 中文回答 overlaps 用中文.
    return {c for w in words for c in (_CJK.findall(w) or [w])}


def word_recall(reference: str, answer: str) -> float:
    """Share of the reference's content words found in the answer (1.0 for an empty reference)."""
    wanted = content_words(reference)
    if not wanted:
        return 1.0
    return len(wanted & content_words(answer)) / len(wanted)


def abstains(answer: str) -> bool:
    return not answer.strip() or _ABSTAIN.search(normalize(answer)) is not None


@dataclass(frozen=True)
class RuleVerdict:
    success: bool
    met: bool  # every expect criterion holds
    forbidden: list[str] = field(default_factory=list)  # the forbidden items the answer claims
    abstained: bool = False
    missing: list[str] = field(default_factory=list)  # the expect items it lacks

    @property
    def hallucinated(self) -> bool:
        return bool(self.forbidden)


def _missing(expect: Expect, answer: str, abstained: bool) -> list[str]:
    missing = []
    for keyword in expect.keywords:
        options = [keyword] if isinstance(keyword, str) else keyword
        if not any(keyword_in(option, answer) for option in options):
            missing.append(" | ".join(options))
    missing += [f"/{p}/" for p in expect.regex if not re.search(p, answer, re.IGNORECASE)]
    if expect.reference is not None and word_recall(expect.reference, answer) < REFERENCE_RECALL:
        missing.append(f"reference: {expect.reference}")
    if expect.abstain and not abstained:
        missing.append("an answer that says it is not known")
    return missing


def _forbidden(forbid: Forbid, answer: str) -> list[str]:
    found = [k for k in forbid.keywords if keyword_in(k, answer)]
    found += [f"/{p}/" for p in forbid.regex if re.search(p, answer, re.IGNORECASE)]
    found += [c for c in forbid.claims if word_recall(c, answer) >= CLAIM_RECALL]
    return found


def rule_verdict(probe: Probe, answer: str) -> RuleVerdict:
    abstained = abstains(answer)
    missing = _missing(probe.expect, answer, abstained)
    forbidden = _forbidden(probe.forbid, answer)
    met = not missing
    return RuleVerdict(
        success=met and not forbidden,
        met=met,
        forbidden=forbidden,
        abstained=abstained,
        missing=missing,
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), nearest-rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Outcome:
    """What `figures` needs of one answered (or failed) probe."""

    success: bool
    hallucinated: bool
    abstained: bool
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    injected: int | None = None
    error: bool = False


@dataclass(frozen=True)
class ArmFigures:
    probes: int
    answered: int
    errors: int
    success_rate: float
    hallucination_rate: float
    abstain_rate: float
    tokens_per_probe: float
    prompt_tokens_per_probe: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    memories_per_probe: float | None


def figures(outcomes: Sequence[Outcome]) -> ArmFigures:
    """Rates over every probe (a failed call counts as a failure); tokens and latency over the
    probes that were answered."""
    n = len(outcomes)
    answered = [o for o in outcomes if not o.error]
    injected = [o.injected for o in answered if o.injected is not None]

    def rate(count: int) -> float:
        return round(count / n, 4) if n else 0.0

    def mean(values: Sequence[float]) -> float:
        return round(statistics.fmean(values), 1) if values else 0.0

    latencies = [o.latency_ms for o in answered]
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    return ArmFigures(
        probes=n,
        answered=len(answered),
        errors=n - len(answered),
        success_rate=rate(sum(o.success for o in answered)),
        hallucination_rate=rate(sum(o.hallucinated for o in answered)),
        abstain_rate=rate(sum(o.abstained for o in answered)),
        tokens_per_probe=mean([o.prompt_tokens + o.completion_tokens for o in answered]),
        prompt_tokens_per_probe=mean([o.prompt_tokens for o in answered]),
        latency_p50_ms=None if p50 is None else round(p50, 1),
        latency_p95_ms=None if p95 is None else round(p95, 1),
        memories_per_probe=mean(injected) if injected else None,
    )
