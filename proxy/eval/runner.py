"""One eval run: set up the memory arm, ask every probe in every arm, score, write the report.

Resumable: each answered probe is appended to the state file beside the report, and the
in-process proxy's data dir sits beside it too until the run is complete; a rerun with the same
cases and settings asks only what is missing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from proxy.core.errors import EvalError
from proxy.eval.arms import Arm, probe_headers, probe_messages, setup_plan, user_history
from proxy.eval.cases import Case, Probe, dump_cases
from proxy.eval.client import ChatClient, MemoryRoutes, describe
from proxy.eval.judge import Judge
from proxy.eval.local import LocalProxy
from proxy.eval.replay import SetupMode, SetupStats, replay
from proxy.eval.report import build_report, render_markdown
from proxy.eval.results import ProbeResult
from proxy.eval.scoring import rule_verdict
from proxy.eval.state import RunState, state_path
from proxy.memory.embed.base import Embedder
from proxy.settings import load_settings

__all__ = ["EvalConfig", "data_dir_of", "run_eval"]

log = logging.getLogger(__name__)


@dataclass
class EvalConfig:
    model: str
    upstream: str
    output: Path
    arms: list[Arm] = field(default_factory=lambda: [Arm.NO_MEMORY, Arm.MEMORY])
    api_key: str | None = None
    source: str = "cases"  # what the cases came from, for the report
    concurrency: int = 4
    proxy_url: str | None = None  # a running proxy; None: one is started in process
    admin_key: str | None = None
    proxy_config: Path | None = None  # YAML for the in-process proxy
    setup: SetupMode = "chat"
    judge_model: str | None = None
    judge_api_base: str | None = None
    judge_api_key: str | None = None
    max_tokens: int | None = 400
    temperature: float | None = 0.0
    progress: bool = True
    keep_data: bool = False
    embedder: Embedder | None = None  # share a loaded embedding model (tests)

    def fingerprint(self, cases: Sequence[Case]) -> str:
        """What changes the figures: a state file of other settings is never resumed."""
        settings = {
            "model": self.model,
            "upstream": self.upstream,
            "arms": [a.value for a in self.arms],
            "proxy": self.proxy_url,
            "setup": self.setup,
            "judge": [self.judge_model, self.judge_api_base],
            "answer": [self.max_tokens, self.temperature],
        }
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
        digest.update(dump_cases(cases).encode())
        return digest.hexdigest()[:32]


def data_dir_of(output: Path) -> Path:
    return output.with_name(output.name + ".data")


def memory_user(run_id: str, user: str) -> str:
    """A run's own namespace: runs against one proxy never see each other's memories."""
    name = f"eval-{run_id}-{user}"
    return (
        name if len(name) <= 256 else f"eval-{run_id}-{hashlib.sha256(user.encode()).hexdigest()}"
    )


async def run_eval(config: EvalConfig, cases: Sequence[Case]) -> dict[str, Any]:
    """Run (or resume) the eval; returns the report, also written to config.output (JSON) and
    beside it (Markdown)."""
    if any(p.expect.needs_judge for c in cases for p in c.probes) and not config.judge_model:
        raise EvalError(
            "some probes can only be judged by a model (expect.follows); pass --judge-model"
        )
    state = RunState.open(state_path(config.output), config.fingerprint(cases))
    started = datetime.now(UTC)
    local: LocalProxy | None = None
    try:
        proxy_url = config.proxy_url
        if Arm.MEMORY in config.arms and proxy_url is None and _probes_left(config, cases, state):
            local = _start_local(config, state)
            proxy_url = local.url
        setup = await _set_up(config, cases, state, proxy_url)
        results = await _ask_all(config, cases, state, proxy_url)
        complete = all(r.error is None for r in results)
        meta = _meta(config, cases, started, proxy_url, setup, state, complete)
        report = build_report(meta, results, config.arms)
        _write(config.output, report)
        if complete and not config.keep_data:
            await _clean_up(config, cases, state, local)
        return report
    finally:
        state.close()
        if local is not None:
            local.stop()


EVAL_RETRIEVAL_TIMEOUT_MS = 10_000.0


def _probes_left(config: EvalConfig, cases: Sequence[Case], state: RunState) -> bool:
    return any(
        f"{c.id}/{p.id}@{Arm.MEMORY.value}" not in state.results for c in cases for p in c.probes
    )


def _start_local(config: EvalConfig, state: RunState) -> LocalProxy:
    data_dir = data_dir_of(config.output)
    if not state.setup_done and data_dir.exists():
        shutil.rmtree(data_dir)  # a setup cut short: start it again from nothing
    if state.setup_done and not data_dir.exists():
        state.setup_done = False  # the memories are gone: tell them again
    settings = load_settings(
        upstream_url=config.upstream,
        upstream_api_key=config.api_key,
        data_dir=data_dir,
        config_file=config.proxy_config,
        log_level="warning",
    )
    # The eval measures what memory brings: on a busy machine a retrieval past the serving
    # budget (500 ms) would go without memory (fail open) and count against the memory arm.
    settings.retrieval = settings.retrieval.model_copy(
        update={"timeout_ms": max(settings.retrieval.timeout_ms, EVAL_RETRIEVAL_TIMEOUT_MS)}
    )
    return LocalProxy(settings, embedder=config.embedder).start()


async def _set_up(
    config: EvalConfig, cases: Sequence[Case], state: RunState, proxy_url: str | None
) -> SetupStats | None:
    if proxy_url is None or state.setup_done:
        return None
    plan = setup_plan(cases)
    routes = MemoryRoutes(proxy_url, config.admin_key)
    chat = _chat(config, f"{proxy_url}/v1")
    try:
        if config.proxy_url is not None:  # a running proxy may hold an earlier, partial setup
            for user in plan:
                await routes.erase(memory_user(state.run_id, user))
        with _bar(config, sum(len(t) for t in plan.values()), "setup turns") as bar:
            stats = await replay(
                plan,
                lambda user: memory_user(state.run_id, user),
                config.setup,
                chat,
                routes,
                config.concurrency,
                bar.update,
            )
    finally:
        await chat.close()
        await routes.close()
    if stats.failed_calls:
        log.warning("%d of %d setup calls failed", stats.failed_calls, stats.calls)
    state.mark_setup_done(asdict(stats))
    return stats


async def _ask_all(
    config: EvalConfig, cases: Sequence[Case], state: RunState, proxy_url: str | None
) -> list[ProbeResult]:
    direct = _chat(config, config.upstream)
    proxied = _chat(config, f"{proxy_url}/v1") if proxy_url else None
    judge = (
        Judge(config.judge_model, config.judge_api_base, config.judge_api_key)
        if config.judge_model
        else None
    )
    histories = {c.owner: user_history(cases, c.owner) for c in cases}
    gate = asyncio.Semaphore(config.concurrency)
    todo = [
        (order, case, probe, arm)
        for order, (case, probe) in enumerate((c, p) for c in cases for p in c.probes)
        for arm in config.arms
        if f"{case.id}/{probe.id}@{arm.value}" not in state.results
    ]
    with _bar(config, len(todo), "probes") as bar:

        async def one(order: int, case: Case, probe: Probe, arm: Arm) -> ProbeResult:
            async with gate:
                client = proxied if arm.through_proxy else direct
                assert client is not None
                headers = probe_headers(memory_user(state.run_id, case.owner))
                result = await _ask(
                    client,
                    judge,
                    case,
                    probe,
                    arm,
                    order,
                    probe_messages(arm, probe.question, histories[case.owner]),
                    headers if arm.through_proxy else {},
                )
            state.record(result)
            bar.update(1)
            return result

        try:
            fresh = await asyncio.gather(*(one(*item) for item in todo))
        finally:
            await direct.close()
            if proxied is not None:
                await proxied.close()
    return [*state.results.values(), *(r for r in fresh if r.error is not None)]


async def _ask(
    client: ChatClient,
    judge: Judge | None,
    case: Case,
    probe: Probe,
    arm: Arm,
    order: int,
    messages: list[dict[str, str]],
    headers: dict[str, str],
) -> ProbeResult:
    base = ProbeResult(case.id, probe.id, arm, order, probe.question, None)
    try:
        answer = await client.ask(messages, headers)
    except Exception as exc:  # the SDK raises one type per status; all are a failed probe
        return _replace(base, error=describe(exc))
    scored = _replace(
        base,
        answer=answer.text,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        latency_ms=round(answer.latency_ms, 1),
        injected=answer.injected,
        # With a judge, the rules still tell abstentions apart (and sit beside its verdict).
        rules=rule_verdict(probe, answer.text),
    )
    if judge is None:
        return scored
    try:
        return _replace(scored, judge=await judge.verdict(probe, answer.text))
    except Exception as exc:  # litellm raises provider-specific types; the probe is asked again
        return _replace(scored, error=f"judge: {describe(exc)}")


def _replace(result: ProbeResult, **changes: Any) -> ProbeResult:
    return replace(result, **changes)


def _chat(config: EvalConfig, base_url: str) -> ChatClient:
    return ChatClient(
        base_url,
        config.model,
        config.api_key,
        max_tokens=config.max_tokens,
        temperature=config.temperature,
    )


def _bar(config: EvalConfig, total: int, unit: str) -> tqdm[Any]:
    return tqdm(
        total=total,
        desc=unit,
        unit="",
        disable=not config.progress or total == 0,
        file=sys.stderr,
        leave=False,
    )


def _meta(
    config: EvalConfig,
    cases: Sequence[Case],
    started: datetime,
    proxy_url: str | None,
    setup: SetupStats | None,
    state: RunState,
    complete: bool,
) -> dict[str, Any]:
    return {
        "source": config.source,
        "cases": len(cases),
        "probes": sum(len(c.probes) for c in cases),
        "model": config.model,
        "upstream": config.upstream,
        "proxy": config.proxy_url or ("in-process" if proxy_url else None),
        "setup_mode": config.setup,
        "setup": asdict(setup) if setup is not None else state.setup_stats,
        "scorer": "judge" if config.judge_model else "rules",
        "judge_model": config.judge_model,
        "run_id": state.run_id,
        "complete": complete,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "state_file": str(state.path),
    }


def _write(output: Path, report: dict[str, Any]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    output.with_suffix(".md").write_text(render_markdown(report), encoding="utf-8")


async def _clean_up(
    config: EvalConfig, cases: Sequence[Case], state: RunState, local: LocalProxy | None
) -> None:
    """A complete run leaves its report and state file, not its memories."""
    if config.proxy_url is not None and state.setup_done:
        routes = MemoryRoutes(config.proxy_url, config.admin_key)
        try:
            for user in {c.owner for c in cases}:
                await routes.erase(memory_user(state.run_id, user))
        finally:
            await routes.close()
    elif local is not None:
        local.stop()
        shutil.rmtree(data_dir_of(config.output), ignore_errors=True)
