"""`memory-proxy eval CASES.jsonl --model M --upstream URL`: the same model on the same cases
without memory, with memory through the proxy, and (optionally) with the full conversation in
context; a table on the terminal, a JSON report at --output and Markdown beside it.

The model's key comes from MEMORY_PROXY_EVAL_API_KEY or OPENAI_API_KEY; a judge's from
MEMORY_PROXY_EVAL_JUDGE_API_KEY, else the provider's usual variable (litellm reads it; not with
--judge-api-base, where no key is sent unless MEMORY_PROXY_EVAL_JUDGE_API_KEY is set).
Interrupted? Run the same command again: answered probes are not asked again.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from proxy.core.errors import EvalError
from proxy.eval.arms import parse_arms
from proxy.eval.cases import Case, dump_cases, load_cases

__all__ = ["register", "run"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REGRESSION = 3
EXIT_INTERRUPTED = 130


class EvalEnvironment(BaseSettings):
    """Keys from the environment (never flags: they would show in `ps` and shell history)."""

    model_config = SettingsConfigDict(extra="ignore")

    api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("MEMORY_PROXY_EVAL_API_KEY", "OPENAI_API_KEY")
    )
    judge_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("MEMORY_PROXY_EVAL_JUDGE_API_KEY")
    )
    admin_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("MEMORY_PROXY_ADMIN_KEY")
    )


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "eval",
        help="compare a model with and without memory on fixed cases",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("cases")
    source.add_argument("cases", nargs="?", type=Path, help="a JSONL file of cases")
    source.add_argument("--from-prefeval", type=Path, metavar="DIR", help="PrefEval topic files")
    source.add_argument("--from-locomo", type=Path, metavar="FILE", help="LoCoMo's locomo10.json")
    source.add_argument("--limit", type=int, help="use only the first N cases")
    source.add_argument(
        "--prefeval-distractors",
        type=int,
        default=5,
        metavar="N",
        help="unrelated user turns around each preference (default 5)",
    )
    source.add_argument(
        "--locomo-categories",
        default="1,2,3,4",
        metavar="LIST",
        help="question categories (1-4; 5 = adversarial), default 1,2,3,4",
    )
    source.add_argument(
        "--limit-questions",
        type=int,
        metavar="N",
        help="LoCoMo: at most N questions per conversation",
    )
    source.add_argument(
        "--save-cases",
        type=Path,
        metavar="PATH",
        help="write the cases as JSONL (without --model: convert only)",
    )

    model = parser.add_argument_group("model")
    model.add_argument("--model", help="the model every arm asks")
    model.add_argument(
        "--upstream",
        default="https://api.openai.com/v1",
        help="OpenAI-compatible base URL (default https://api.openai.com/v1)",
    )
    model.add_argument("--max-tokens", type=int, default=400, help="answer length cap")
    model.add_argument("--temperature", type=float, default=0.0)

    arms = parser.add_argument_group("arms")
    arms.add_argument(
        "--arms",
        default="no-memory,memory",
        help="of no-memory, memory, full-context (default no-memory,memory)",
    )
    arms.add_argument("--proxy-url", help="use this running proxy (same upstream!) for memory")
    arms.add_argument(
        "--proxy-config",
        type=Path,
        metavar="YAML",
        help="configuration of the in-process proxy (as for serve --config)",
    )
    arms.add_argument(
        "--setup",
        choices=["chat", "api"],
        default="chat",
        help="replay setup turns as chats to the model (default) or write them via "
        "POST /memories (offline extractor, no model calls)",
    )

    scoring = parser.add_argument_group("scoring and output")
    scoring.add_argument("--judge-model", help="litellm model that grades answers (else: rules)")
    scoring.add_argument("--judge-api-base", help="the judge's base URL (e.g. a local server)")
    scoring.add_argument(
        "--output",
        type=Path,
        default=Path("eval-report.json"),
        help="JSON report (Markdown beside it; default eval-report.json)",
    )
    scoring.add_argument("--concurrency", type=int, default=4, help="calls in flight (default 4)")
    scoring.add_argument("--no-progress", action="store_true")
    scoring.add_argument(
        "--keep-data", action="store_true", help="keep the run's memories after a complete run"
    )
    scoring.add_argument(
        "--fail-on-regression",
        action="store_true",
        help=f"exit {EXIT_REGRESSION} if memory got a probe wrong that no-memory got right",
    )


def _cases(args: argparse.Namespace) -> tuple[list[Case], str]:
    given = [x for x in (args.cases, args.from_prefeval, args.from_locomo) if x is not None]
    if len(given) != 1:
        raise EvalError("give one of: a cases file, --from-prefeval DIR, --from-locomo FILE")
    if args.cases is not None:
        return load_cases(args.cases)[: args.limit], str(args.cases)
    if args.from_prefeval is not None:
        from proxy.eval.adapters.prefeval import prefeval_cases

        cases = prefeval_cases(args.from_prefeval, distractors=args.prefeval_distractors)
        return cases[: args.limit], f"prefeval:{args.from_prefeval}"
    from proxy.eval.adapters.locomo import locomo_cases

    try:
        categories = {int(c) for c in args.locomo_categories.split(",") if c.strip()}
    except ValueError:
        raise EvalError("--locomo-categories takes numbers, e.g. 1,2,3,4") from None
    cases = locomo_cases(args.from_locomo, categories, args.limit, args.limit_questions)
    return cases, f"locomo:{args.from_locomo}"


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except EvalError as exc:
        print(f"memory-proxy eval: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from proxy.eval.report import render_table
    from proxy.eval.runner import EvalConfig, run_eval
    from proxy.settings import secret

    cases, source = _cases(args)
    if args.save_cases is not None:
        args.save_cases.write_text(dump_cases(cases), encoding="utf-8")
        print(f"wrote {len(cases)} cases to {args.save_cases}", file=sys.stderr)
        if args.model is None:
            return 0
    if args.model is None:
        raise EvalError("--model is required to run an eval")
    if args.concurrency < 1:
        raise EvalError("--concurrency must be at least 1")
    try:
        arms = parse_arms(args.arms)
    except ValueError as exc:
        raise EvalError(str(exc)) from None
    env = EvalEnvironment()
    config = EvalConfig(
        model=args.model,
        upstream=args.upstream.rstrip("/"),
        output=args.output,
        arms=arms,
        api_key=secret(env.api_key),
        source=source,
        concurrency=args.concurrency,
        proxy_url=args.proxy_url.rstrip("/") if args.proxy_url else None,
        admin_key=secret(env.admin_key),
        proxy_config=args.proxy_config,
        setup=args.setup,
        judge_model=args.judge_model,
        judge_api_base=args.judge_api_base,
        judge_api_key=secret(env.judge_api_key),
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        progress=not args.no_progress,
        keep_data=args.keep_data,
    )
    _quiet_logs()
    report = asyncio.run(run_eval(config, cases))
    print(render_table(report))
    print(f"report: {args.output} and {args.output.with_suffix('.md')}", file=sys.stderr)
    if not report["complete"]:
        print("some probes failed to get an answer: run again to retry them", file=sys.stderr)
        return EXIT_ERROR
    regressed = any(c["regressions"] for c in report["changes"].values())
    return EXIT_REGRESSION if args.fail_on_regression and regressed else 0


def _quiet_logs() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The in-process proxy listens on loopback only: its warning about an unset admin key, and
    # litellm's and httpx's request lines, are noise here.
    for name in ("proxy.http.auth", "LiteLLM", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
