"""Routed calls (`python bench/overhead.py --routed`): what a route adds to a chat call, and how
much of that is litellm's own work.

One process serves fakes of Anthropic, Gemini, Ollama and an OpenAI-compatible upstream
(tests/fake_providers.py, tests/fake_upstream.py; they answer at once, streams in 20 chunks);
the proxy runs as another, with a route to each fake and memory off (no user), so that only
routing is measured. Three sides per cell, interleaved in blocks whose order alternates (A B C,
C B A, ...):

- direct: the provider's own request, exactly as litellm sends it (captured from the fake),
  posted with aiohttp: what a client speaking that provider's API would pay;
- litellm: `litellm.acompletion` in this process with the arguments the proxy would give it
  (proxy/core/completion_args.py), against the same fake: litellm's translation, its HTTP
  client and the parsing of the answer, without the proxy;
- proxy: the OpenAI request to the proxy, routed to the fake.

"added" = proxy - direct; "litellm" = litellm - direct, the share of the added time that
litellm's own work accounts for. The `unrouted` row is the proxy's ordinary path for
comparison: the same OpenAI request to the fake OpenAI upstream, directly and through the proxy
(its litellm side is litellm's `openai/` provider against that upstream).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import harness
from bench.overhead import ANSWER, QUESTION, SYSTEM
from proxy.core.completion_args import completion_call
from proxy.core.routing import chat_model
from proxy.llm import litellm
from testbed.processes import Child, ProxyProcess, free_port

RESULTS = harness.RESULTS / "overhead-routed.json"
# provider -> (the model clients ask for, litellm_model, api_base path on the fake)
ROUTES = {
    "anthropic": ("bench-claude", "anthropic/claude-sonnet-4-5", ""),
    "gemini": ("bench-gemini", "gemini/gemini-2.5-flash", "/v1beta"),
    "ollama": ("bench-llama", "ollama/llama3.2", ""),
}
UNROUTED = ("gpt-bench", "openai/gpt-bench", "/v1")
SIDES = ("direct", "litellm", "proxy")

# The fakes in one process; `GET /_last` tells the request the fake received last (what litellm
# sent), so that the direct side can send exactly that.
LAUNCHER = """
import json, sys
from collections import deque
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from testbed.fake_providers import FakeAnthropic, FakeGemini, FakeOllama
from testbed.fake_upstream import FakeUpstream
answer = sys.argv[2]
reply = lambda body: answer
fakes = [fake(reply, chunks=20) for fake in (FakeAnthropic, FakeGemini, FakeOllama)]
upstream = FakeUpstream(reply=reply, chunks=20)
recorded = [*fakes, upstream]
for fake in recorded:
    fake.requests = deque(maxlen=4)
    fake.sent_streams = deque(maxlen=4)
by_name = dict(zip(["anthropic", "gemini", "ollama", "unrouted"], recorded))
async def last(request):
    newest = by_name[request.path_params["name"]].requests[-1]
    return JSONResponse({"path": newest.path, "query": newest.query, "headers": newest.headers,
                         "body": newest.body.decode()})
routes = [Route("/_last/{name}", last)] + [r for f in fakes for r in f.routes()]
routes += list(upstream.app.routes)
app = Starlette(routes=routes)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def start_fakes(workdir: Path) -> Child:
    port = free_port()
    command = [sys.executable, "-c", LAUNCHER, str(port), ANSWER]
    fakes = Child("fakes", command, port, "/v1/models", workdir / "fakes.log", cwd=harness.ROOT)
    return fakes.wait_ready(60)


def routes_env(fakes_url: str) -> dict[str, str]:
    routes = [
        {"model": model, "litellm_model": target, "api_base": f"{fakes_url}{base}", "api_key": "k"}
        for model, target, base in ROUTES.values()
    ]
    return {"MEMORY_PROXY_ROUTES": json.dumps(routes)}


def openai_body(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
        "temperature": 0,
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


@dataclass
class Target:
    provider: str
    stream: bool
    arguments: dict[str, Any]  # litellm's
    proxy_body: bytes
    direct_url: str = ""
    direct_headers: dict[str, str] | None = None
    direct_body: bytes = b""


def target_for(provider: str, stream: bool, fakes_url: str) -> Target:
    model, litellm_model, base = UNROUTED if provider == "unrouted" else ROUTES[provider]
    body = openai_body(model, stream)
    call = completion_call(
        body,
        body["messages"],
        litellm_model=chat_model(litellm_model),
        params={},
        api_base=f"{fakes_url}{base}",
        api_key="k",
        timeout_s=60,
    )
    return Target(provider, stream, call.arguments, json.dumps(body).encode())


async def capture_direct(target: Target, fakes_url: str, session: aiohttp.ClientSession) -> None:
    """One litellm call, then the request the fake received becomes the direct side's (for
    the unrouted row: the OpenAI request itself, as the proxy's own benchmark sends it)."""
    await litellm_call(target)
    if target.provider == "unrouted":
        target.direct_url = f"{fakes_url}/v1/chat/completions"
        target.direct_headers = {"content-type": "application/json", "authorization": "Bearer k"}
        target.direct_body = target.proxy_body
        return
    async with session.get(f"{fakes_url}/_last/{target.provider}") as response:
        seen = await response.json()
    query = f"?{seen['query']}" if seen["query"] else ""
    target.direct_url = f"{fakes_url}{seen['path']}{query}"
    skip = {"host", "content-length", "accept-encoding", "user-agent", "connection"}
    target.direct_headers = {k: v for k, v in seen["headers"].items() if k not in skip}
    target.direct_body = seen["body"].encode()


async def litellm_call(target: Target) -> harness.Sample:
    started = time.perf_counter()
    response = await litellm().acompletion(**target.arguments)
    ttfb = None
    if target.stream:
        async for _chunk in response:
            if ttfb is None:
                ttfb = time.perf_counter() - started
    return harness.Sample(time.perf_counter() - started, ttfb, 200, None)


async def run_side(
    name: str,
    target: Target,
    proxy_url: str,
    session: aiohttp.ClientSession,
    count: int,
    concurrency: int,
    side: harness.Side | None,
) -> None:
    """One block of one side: the HTTP sides through the harness's load generator."""
    if name == "direct":
        assert target.direct_headers is not None
        await harness.run_block(
            session,
            target.direct_url,
            lambda _: target.direct_body,
            target.direct_headers,
            target.stream,
            count,
            concurrency,
            side,
        )
        return
    if name == "proxy":
        headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
        await harness.run_block(
            session,
            f"{proxy_url}/v1/chat/completions",
            lambda _: target.proxy_body,
            headers,
            target.stream,
            count,
            concurrency,
            side,
        )
        return
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            try:
                sample = await litellm_call(target)
            except Exception as exc:  # counted, not fatal: the figures say how many failed
                if side is not None:
                    side.errors += 1
                    side.error_kinds[type(exc).__name__] += 1
                continue
            if side is not None:
                side.samples.append(sample)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    if side is not None:
        side.wall_s += time.perf_counter() - started


async def run_cell(
    target: Target, proxy: ProxyProcess, requests: int, block: int, concurrency: int
) -> dict[str, Any]:
    sides = {name: harness.Side() for name in SIDES}
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=120),
        skip_auto_headers=("User-Agent",),
    ) as session:
        warm = max(2 * concurrency, 20)
        for name in SIDES:
            await run_side(name, target, proxy.url, session, warm, concurrency, None)
        blocks = max(1, round(requests / block))
        gc.collect()
        gc.disable()
        try:
            for index in range(blocks):
                order = SIDES if index % 2 == 0 else tuple(reversed(SIDES))
                for name in order:
                    # The proxy's CPU from its process; litellm's from this one (its side runs
                    # here; the load generator's share of it is what the direct side costs).
                    cpu = harness.proc_cpu_s(proxy.pid) if name == "proxy" else time.process_time()
                    await run_side(
                        name, target, proxy.url, session, block, concurrency, sides[name]
                    )
                    if name == "proxy":
                        sides[name].cpu_s += harness.proc_cpu_s(proxy.pid) - cpu
                    else:
                        sides[name].cpu_s += time.process_time() - cpu
        finally:
            gc.enable()
    return summarise(target, concurrency, sides)


def summarise(target: Target, concurrency: int, sides: dict[str, harness.Side]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "provider": target.provider,
        "mode": "stream" if target.stream else "json",
        "concurrency": concurrency,
    }
    for name, side in sides.items():
        row[name] = side.summary()
    direct = row["direct"]["latency_ms"]
    for name in ("litellm", "proxy"):
        own = row[name]["latency_ms"]
        row[f"{name}_added_ms"] = {
            key: round(own[key] - direct[key], 3)
            if own[key] is not None and direct[key] is not None
            else None
            for key in ("p50", "p95", "p99")
        }
    added, by_litellm = row["proxy_added_ms"]["p50"], row["litellm_added_ms"]["p50"]
    row["litellm_share_of_added_p50"] = (
        round(by_litellm / added, 2) if added and by_litellm is not None and added > 0 else None
    )
    for name, key in (
        ("proxy", "proxy_cpu_ms_per_request"),
        ("litellm", "bench_cpu_ms_per_litellm_request"),
        ("direct", "bench_cpu_ms_per_direct_request"),
    ):
        samples = len(sides[name].samples)
        row[key] = round(sides[name].cpu_s * 1000 / samples, 3) if samples else None
    own, client = row["bench_cpu_ms_per_litellm_request"], row["bench_cpu_ms_per_direct_request"]
    # litellm's CPU: its side's, less what sending and reading a request costs the client.
    row["litellm_cpu_ms_per_request"] = round(own - (client or 0.0), 3) if own is not None else None
    return row


def print_row(row: dict[str, Any], header: bool) -> None:
    if header:
        print(
            f"{'provider':<10} {'mode':<6} {'c':>3} | {'direct p50':>10} | "
            f"{'added p50/p95/p99 (proxy - direct)':>36} | {'litellm p50':>11} | {'share':>5} | "
            f"{'proxy cpu':>9} | {'litellm cpu':>11}"
        )
    added = row["proxy_added_ms"]
    trio = "/".join(
        f"{added[k]:.2f}" if added[k] is not None else "-" for k in ("p50", "p95", "p99")
    )
    litellm_p50 = row["litellm_added_ms"]["p50"]
    litellm_cpu = row["litellm_cpu_ms_per_request"]
    print(
        f"{row['provider']:<10} {row['mode']:<6} {row['concurrency']:>3} | "
        f"{row['direct']['latency_ms']['p50']:>10.2f} | {trio:>36} | "
        f"{litellm_p50 if litellm_p50 is not None else float('nan'):>11.2f} | "
        f"{row['litellm_share_of_added_p50'] or float('nan'):>5.2f} | "
        f"{row['proxy_cpu_ms_per_request'] or float('nan'):>9.3f} | "
        f"{litellm_cpu if litellm_cpu is not None else float('nan'):>11.3f}"
    )


def run(
    *,
    requests: int,
    block: int,
    concurrencies: list[int],
    modes: list[str],
    providers: list[str],
    output: Path | None,
) -> dict[str, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm()  # imported before any timing
    workdir = Path(tempfile.mkdtemp(prefix="overhead-routed-"))
    result: dict[str, Any] = {
        **harness.run_header("routed call overhead (bench/routed.py)"),
        "parameters": {
            "requests_per_side": requests,
            "block": block,
            "concurrency": concurrencies,
            "modes": modes,
            "providers": providers,
            "routes": {name: route[1] for name, route in ROUTES.items()},
            "memory": "off (no user): routing alone",
            "answer_chars": len(ANSWER),
            "stream_chunks": 20,
        },
        "cells": [],
    }
    fakes = start_fakes(workdir)
    proxy: ProxyProcess | None = None
    # One event loop for the whole run: litellm binds its clients and logging worker to it.
    loop = asyncio.Runner(loop_factory=harness.loop_factory())
    run_async = loop.run
    try:
        proxy = ProxyProcess(
            f"{fakes.url}/v1", workdir / "data", workdir / "proxy.log", routes_env(fakes.url)
        ).wait_ready(300)
        harness.log(f"fakes (pid {fakes.pid}) and proxy (pid {proxy.pid}) ready")
        for provider in providers:
            for mode in modes:
                target = target_for(provider, mode == "stream", fakes.url)

                async def capture(target: Target = target) -> None:
                    async with aiohttp.ClientSession() as session:
                        await capture_direct(target, fakes.url, session)

                run_async(capture())
                for concurrency in concurrencies:
                    row = run_async(run_cell(target, proxy, requests, block, concurrency))
                    result["cells"].append(row)
                    print_row(row, header=len(result["cells"]) == 1)
    finally:
        loop.close()
        for child in (proxy, fakes):
            if child is not None:
                child.stop()
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if output is not None:
        harness.write_results(output, result)
    return result
