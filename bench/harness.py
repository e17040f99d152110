"""What the benchmarks share: the results file and its header, percentiles, a process's memory and
CPU, the proxy in a thread in front of the fake upstream, its memory routes, and the interleaved
load generator (the same requests sent straight to the upstream and through the proxy).

The servers themselves (fake upstream, uvicorn in a thread, child processes) live in `testbed`,
which the tests use too."""

from __future__ import annotations

import os

# As `memory-proxy serve` does, before numpy loads: more BLAS threads spin against the event loop.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import platform
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
import numpy as np

from testbed.fake_upstream import FakeUpstream
from testbed.servers import ServerThread

__all__ = [
    "RESULTS",
    "ROOT",
    "Running",
    "Sample",
    "Side",
    "chat_body",
    "code_digest",
    "flush",
    "in_fresh_process",
    "latency",
    "list_memories",
    "log",
    "loop_factory",
    "mib",
    "percentile",
    "proc_cpu_s",
    "proc_memory",
    "proxy_in_thread",
    "run_block",
    "run_header",
    "write_results",
]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


# --- results ---------------------------------------------------------------------------------


def run_header(benchmark: str) -> dict[str, Any]:
    """What every results file starts with: which benchmark, when, the command, the machine."""
    return {
        "benchmark": benchmark,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
    }


def write_results(path: Path, result: dict[str, Any], *, quiet: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, ensure_ascii=False, default=_json_default)
    path.write_text(text + "\n", encoding="utf-8")
    if not quiet:
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def _json_default(value: object) -> Any:
    if isinstance(value, Path):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(type(value).__name__)


T = TypeVar("T")


def in_fresh_process(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in a new Python process: spawned, it inherits none of this one's
    memory, so one phase's allocations do not show in the next one's figures."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def code_digest() -> str:
    """Which proxy code was measured (others change it while benchmarks run)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "proxy").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def log(message: str) -> None:
    """Progress, on stderr (stdout carries the tables)."""
    print(message, file=sys.stderr, flush=True)


# --- statistics ------------------------------------------------------------------------------


def percentile(seconds: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) in milliseconds; None for no values."""
    return float(np.percentile(np.asarray(seconds), q)) * 1000 if len(seconds) else None


def latency(seconds: Sequence[float]) -> dict[str, float | int]:
    """n, p50/p95/p99, max and mean in milliseconds."""
    if not seconds:
        return {"n": 0}
    ms = np.asarray(seconds) * 1000
    out: dict[str, float | int] = {"n": len(ms)}
    for q in (50, 95, 99):
        out[f"p{q}_ms"] = round(float(np.percentile(ms, q)), 3)
    return out | {"max_ms": round(float(ms.max()), 3), "mean_ms": round(float(ms.mean()), 3)}


def proc_memory(pid: int | str = "self") -> dict[str, float]:
    """Resident (VmRSS) and peak resident (VmHWM) memory of a live process, in MiB."""
    values: dict[str, float] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = mib(int(rest.split()[0]))
    return values


def mib(kb: int) -> float:
    return round(kb / 1024, 1)


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds a live process has used."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the proxy and its memory routes ---------------------------------------------------------


@dataclass(frozen=True)
class Running:
    url: str  # the proxy
    upstream_url: str  # the fake upstream, for requests sent to it directly
    settings: Any  # proxy.settings.Settings, as the proxy runs with them


@contextlib.contextmanager
def proxy_in_thread(upstream: FakeUpstream, data_dir: Path, **settings: Any) -> Iterator[Running]:
    """The proxy under uvicorn in a thread, in front of `upstream` (in a thread too).
    `settings`: Settings fields besides the upstream and the data dir."""
    from proxy.app import create_app  # the proxy itself, only for the benchmarks that need it
    from proxy.settings import Settings

    with ServerThread(upstream.app) as fake:
        config = Settings(upstream_url=f"{fake.url}/v1", data_dir=data_dir, **settings)
        with ServerThread(create_app(config)) as proxy:
            yield Running(proxy.url, fake.url, config)


def chat_body(
    content: str, *, model: str = "m", system: str | None = None, stream: bool = False
) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    body: dict[str, Any] = {
        "model": model,
        "messages": [*messages, {"role": "user", "content": content}],
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


def flush(proxy_url: str, deadline_s: float = 3600) -> float:
    """POST /memories/flush until every accepted write is stored; returns seconds waited."""
    started = time.perf_counter()
    deadline = time.monotonic() + deadline_s
    with httpx.Client(base_url=proxy_url, timeout=700, trust_env=False) as client:
        while True:
            response = client.post("/memories/flush", params={"timeout": 600})
            if response.status_code == 200:
                return time.perf_counter() - started
            if response.status_code != 503 or time.monotonic() > deadline:
                raise RuntimeError(f"flush failed: {response.status_code} {response.text}")


def list_memories(
    proxy_url: str, user: str, *, include_superseded: bool = False
) -> list[dict[str, Any]]:
    """Every memory of the user (GET /memories, all pages)."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"user_id": user, "limit": 1000}
    if include_superseded:
        params["include_superseded"] = "true"
    with httpx.Client(base_url=proxy_url, timeout=120, trust_env=False) as client:
        while True:
            response = client.get("/memories", params=params)
            response.raise_for_status()
            page = response.json()
            items += page["data"]
            if not page.get("next_cursor"):
                return items
            params["cursor"] = page["next_cursor"]


# --- load ------------------------------------------------------------------------------------


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's, when installed (the load generator should cost less than what it measures)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@dataclass
class Sample:
    total: float  # seconds
    ttfb: float | None  # seconds to the first body byte (streams)
    status: int
    memory: str | None  # X-Memory-Status of proxied calls


@dataclass
class Side:
    """The requests of one side (direct or proxied) of an interleaved run."""

    samples: list[Sample] = field(default_factory=list)
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    cpu_s: float = 0.0  # the server process's CPU during this side's blocks

    def summary(self) -> dict[str, Any]:
        totals = [s.total for s in self.samples]
        ttfbs = [s.ttfb for s in self.samples if s.ttfb is not None]
        mean = float(np.mean(totals)) * 1000 if totals else None
        return {
            "ok": len(self.samples),
            "errors": self.errors,
            "error_kinds": dict(self.error_kinds),
            "latency_ms": {f"p{q}": _round(percentile(totals, q)) for q in (50, 95, 99)}
            | {"mean": _round(mean)},
            "ttfb_ms": {f"p{q}": _round(percentile(ttfbs, q)) for q in (50, 95, 99)}
            if ttfbs
            else None,
            "rps": round(len(self.samples) / self.wall_s, 1) if self.wall_s else None,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def one_request(
    client: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], stream: bool
) -> Sample:
    started = time.perf_counter()
    ttfb: float | None = None
    async with client.post(url, data=body, headers=headers) as response:
        if stream:
            async for _chunk in response.content.iter_any():
                if ttfb is None:
                    ttfb = time.perf_counter() - started
        else:
            await response.read()
        total = time.perf_counter() - started
    return Sample(total, ttfb, response.status, response.headers.get("x-memory-status"))


async def run_block(
    client: aiohttp.ClientSession,
    url: str,
    bodies: Callable[[int], bytes],
    headers: dict[str, str],
    stream: bool,
    count: int,
    concurrency: int,
    side: Side | None,
) -> None:
    """`count` POSTs to `url` with `concurrency` in flight; recorded into `side` (None: a
    warm-up). aiohttp, not httpx: httpx's pool costs ~0.5 ms of CPU per request, and became the
    bottleneck at 64 in flight on 2 cores."""
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            try:
                sample = await one_request(client, url, bodies(index), headers, stream)
            except (aiohttp.ClientError, TimeoutError) as exc:
                if side is not None:
                    side.errors += 1
                    side.error_kinds[type(exc).__name__] += 1
                continue
            if side is None:
                continue
            if sample.status == 200:
                side.samples.append(sample)
            else:
                side.errors += 1
                side.error_kinds[f"HTTP {sample.status}"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    if side is not None:
        side.wall_s += time.perf_counter() - started
