"""The eval report: one JSON document, and the terminal table and Markdown made from it (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from proxy.eval.arms import Arm
from proxy.eval.results import ProbeResult
from proxy.eval.scoring import ArmFigures, figures

__all__ = ["build_report", "render_markdown", "render_table"]

_COLUMNS = [
    ("arm", "arm"),
    ("success", "success_rate"),
    ("hallucination", "hallucination_rate"),
    ("abstain", "abstain_rate"),
    ("tokens/probe", "tokens_per_probe"),
    ("latency p50 ms", "latency_p50_ms"),
    ("memories/probe", "memories_per_probe"),
    ("errors", "errors"),
]


def arm_figures(results: Sequence[ProbeResult], arms: Sequence[Arm]) -> dict[str, ArmFigures]:
    return {arm.value: figures([r.outcome() for r in results if r.arm == arm]) for arm in arms}


def _changes(results: Sequence[ProbeResult], arms: Sequence[Arm]) -> dict[str, Any]:
    """Per arm against no-memory: probes it got right that no-memory did not (gains), and the
    other way round (regressions: errors memory brought)."""
    if Arm.NO_MEMORY not in arms:
        return {}
    base = {r.key: r.success for r in results if r.arm == Arm.NO_MEMORY}
    out: dict[str, Any] = {}
    for arm in arms:
        if arm is Arm.NO_MEMORY:
            continue
        mine = {r.key: r.success for r in results if r.arm == arm}
        shared = sorted(base.keys() & mine.keys())
        out[arm.value] = {
            "gains": [k for k in shared if mine[k] and not base[k]],
            "regressions": [k for k in shared if base[k] and not mine[k]],
        }
    return out


def build_report(
    meta: Mapping[str, Any], results: Sequence[ProbeResult], arms: Sequence[Arm]
) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: (r.order, arms.index(r.arm)))
    return {
        "object": "memory_proxy.eval",
        **meta,
        "arms": {name: asdict(f) for name, f in arm_figures(ordered, arms).items()},
        "changes": _changes(ordered, arms),
        "results": [r.to_json() for r in ordered],
    }


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key.endswith("_rate"):
        return f"{value:.0%}" if value in (0, 1) else f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def _rows(report: Mapping[str, Any]) -> list[list[str]]:
    return [
        [name, *(_cell(key, values[key]) for _, key in _COLUMNS[1:])]
        for name, values in report["arms"].items()
    ]


def render_table(report: Mapping[str, Any]) -> str:
    header = [title for title, _ in _COLUMNS]
    rows = [header, *_rows(report)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([_headline(report), "", *lines, *_change_lines(report)]) + "\n"


def _headline(report: Mapping[str, Any]) -> str:
    scorer = report["scorer"] + (f" ({report['judge_model']})" if report.get("judge_model") else "")
    return (
        f"{report['probes']} probes in {report['cases']} cases, model {report['model']}, "
        f"scored by {scorer}"
    )


def _change_lines(report: Mapping[str, Any]) -> list[str]:
    lines = []
    for arm, change in report.get("changes", {}).items():
        lines.append(
            f"{arm} vs no-memory: {len(change['gains'])} gained, "
            f"{len(change['regressions'])} regressed"
            + (f" ({', '.join(change['regressions'][:10])})" if change["regressions"] else "")
        )
    return ["", *lines] if lines else []


def render_markdown(report: Mapping[str, Any]) -> str:
    header = [title for title, _ in _COLUMNS]
    table = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in _rows(report)),
    ]
    failures = [r for r in report["results"] if not r["success"]]
    parts = [
        "# memory-proxy eval",
        "",
        _headline(report) + f"; upstream {report['upstream']}, memory via {report['proxy']}.",
        "",
        *table,
        *_change_lines(report),
    ]
    if failures:
        parts += [
            "",
            "## Probes that failed",
            "",
            "| arm | probe | answer | why |",
            "|---|---|---|---|",
        ]
        parts += [
            f"| {r['arm']} | {r['key']} | {_md(r['answer'] or '')} | {_md(_why(r))} |"
            for r in failures
        ]
    return "\n".join(parts) + "\n"


def _why(result: Mapping[str, Any]) -> str:
    if result.get("error"):
        return f"error: {result['error']}"
    judge = result.get("judge")
    if judge:
        return str(judge.get("reason", ""))
    rules = result.get("rules") or {}
    reasons = [f"lacks {m}" for m in rules.get("missing", [])]
    reasons += [f"claims {f}" for f in rules.get("forbidden", [])]
    return "; ".join(reasons)


def _md(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    flat = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return flat.replace("|", "\\|")
