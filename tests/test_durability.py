"""No accepted write is lost: kill -9 at random points, restart, SIGTERM drain, a bounded backlog.

"Accepted" means the client received a complete, successful answer: the turn was in the SQLite
outbox before that answer was sent. After a crash and a restart on the same data dir, every
accepted turn's memory is stored exactly once (a turn processed twice adds nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from proxy.core.scope import Scope
from proxy.memory.write.outbox import Outbox, Turn
from testbed.fake_upstream import FakeUpstream
from testbed.processes import ProxyProcess
from tests.conftest import ProxyFactory, wait_until
from tests.raw_upstream import Connection, RawUpstream, forever, sse

SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def unique_word(rng: random.Random) -> str:
    """A made-up, pronounceable name: nothing the redactor takes for a secret."""
    return "".join(rng.choice(SYLLABLES) for _ in range(5)).capitalize()


def fact(word: str) -> str:
    return f"I planted a tree named {word} in my garden."


@dataclass
class Burst:
    attempted: dict[str, str] = field(default_factory=dict)  # user -> word
    accepted: dict[str, str] = field(default_factory=dict)


async def _send(client: httpx.AsyncClient, user: str, text: str, stream: bool) -> bool:
    """One turn; True when the whole answer arrived (for a stream: up to [DONE] and the end)."""
    body = {"model": "m", "messages": [{"role": "user", "content": text}], "stream": stream}
    headers = {"x-user-id": user}
    if not stream:
        response = await client.post("/v1/chat/completions", json=body, headers=headers)
        return response.status_code == 200 and bool(response.json()["choices"][0]["message"])
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
        data = b"".join([chunk async for chunk in r.aiter_bytes()])
    return r.status_code == 200 and data.endswith(b"data: [DONE]\n\n") and b'"error"' not in data


async def burst_then_kill(
    proxy: ProxyProcess,
    trial: str,
    rng: random.Random,
    kill_after: float,
    stream_share: float,
    senders: int = 3,
) -> Burst:
    """Senders fire turns back to back (each a new user with a unique fact) until the proxy is
    killed `kill_after` seconds in."""
    burst = Burst()
    stop = asyncio.Event()

    async def sender(client: httpx.AsyncClient, k: int) -> None:
        n = 0
        while not stop.is_set():
            user, word = f"{trial}-{k}-{n}", unique_word(rng)
            n += 1
            burst.attempted[user] = word
            try:
                if await _send(client, user, fact(word), rng.random() < stream_share):
                    burst.accepted[user] = word
            except httpx.TransportError:
                return  # the proxy is gone

    limits = httpx.Limits(max_connections=senders)
    async with httpx.AsyncClient(base_url=proxy.url, timeout=20, limits=limits) as client:
        tasks = [asyncio.create_task(sender(client, k)) for k in range(senders)]
        await asyncio.sleep(kill_after)  # the random crash point: this sleep is the experiment
        os.kill(proxy.pid, signal.SIGKILL)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
    proxy.process.wait(timeout=30)
    return burst


@dataclass
class Check:
    lost: int = 0  # accepted turns with no memory
    duplicated: int = 0  # turns (accepted or in flight) stored more than once
    in_flight_stored: int = 0  # turns the client never saw answered, stored all the same


def check_stored_once(proxy: ProxyProcess, burst: Burst) -> Check:
    """Every accepted turn's fact is stored exactly once; one in flight at most once."""
    check = Check()
    for user, word in burst.attempted.items():
        texts = [m["text"] for m in proxy.memories(user)]
        matching = [t for t in texts if word in t]
        assert len(matching) == len(texts), f"{user}: unexpected memories {texts}"
        if user in burst.accepted:
            check.lost += len(matching) == 0
        else:
            check.in_flight_stored += len(matching) == 1
        check.duplicated += len(matching) > 1
    return check


def run_kill_chain(
    upstream_url: str, workdir: Path, trials: int, seed: int, stream_share: float
) -> dict[str, int]:
    """`trials` crashes on one data dir: each restart checks the trial before it and is the
    start of the next one."""
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir, log_path = workdir / "data", workdir / "proxy.log"
    figures = dict.fromkeys(
        ["trials", "accepted", "in_flight", "in_flight_stored", "resumed", "lost", "duplicated"], 0
    )
    bursts: list[Burst] = []
    proxy = ProxyProcess(upstream_url, data_dir, log_path).wait_ready()
    try:
        for trial in range(trials):
            kill_after = rng.uniform(0.05, 1.0)
            burst = asyncio.run(
                burst_then_kill(proxy, f"s{seed}t{trial}", rng, kill_after, stream_share)
            )
            bursts.append(burst)
            proxy.close()
            proxy = ProxyProcess(upstream_url, data_dir, log_path).wait_ready()
            # Turns the crash left in the outbox (a lower bound: the worker has started).
            figures["resumed"] += proxy.health()["memory"]["backlog"]["pending"]
            proxy.flush()
            check = check_stored_once(proxy, burst)
            figures["trials"] += 1
            figures["accepted"] += len(burst.accepted)
            figures["in_flight"] += len(burst.attempted) - len(burst.accepted)
            figures["in_flight_stored"] += check.in_flight_stored
            figures["lost"] += check.lost
            figures["duplicated"] += check.duplicated
        # Later crashes and restarts did not disturb what earlier trials stored.
        for burst in bursts:
            check = check_stored_once(proxy, burst)
            figures["lost"] += check.lost
            figures["duplicated"] += check.duplicated
    finally:
        proxy.close()
    return figures


CHAINS = [(11, 0.0), (12, 0.0), (13, 0.5), (14, 0.5)]  # (seed, share of streamed turns)
TRIALS_PER_CHAIN = 5


@pytest.mark.timeout(300)
def test_kill_9_during_a_burst_loses_no_accepted_turn(
    upstream: FakeUpstream, tmp_path: Path, figures: dict[str, dict]
) -> None:
    """20 crashes in all: four chains of five, side by side (each its own proxy and data dir)."""
    upstream_url = f"{upstream.url}/v1"  # type: ignore[attr-defined]
    with ThreadPoolExecutor(len(CHAINS)) as pool:
        results = list(
            pool.map(
                lambda chain: run_kill_chain(
                    upstream_url, tmp_path / f"chain{chain[0]}", TRIALS_PER_CHAIN, *chain
                ),
                CHAINS,
            )
        )
    totals = {key: sum(r[key] for r in results) for key in results[0]}
    figures["kill -9"] = totals
    assert totals["trials"] == len(CHAINS) * TRIALS_PER_CHAIN
    assert totals["accepted"] > 0
    assert totals["lost"] == 0, totals
    assert totals["duplicated"] == 0, totals


# --- restart resumes, reprocessing is idempotent --------------------------------------------

MANY_FACTS = (
    "I planted a tree named Kabo in my garden. My neighbour keeps a parrot called Zeli. "
    "I collect stamps from Veruna. My sister plays the oboe in Lodara. "
    "I run every morning along the river Mistel. I keep a kite named Pomaro in the attic. "
    "I grow tomatoes called Ruvina on my balcony. I keep a lantern named Gamma in the shed."
)


def test_a_restart_resumes_pending_turns_and_a_turn_processed_twice_adds_nothing(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    turn = Turn(
        id="turn-left-by-a-crash",
        scope=Scope("twice"),
        user_text=MANY_FACTS,
        assistant_text="",
        occurred_at=None,
        accepted_at=datetime.now(UTC),
    )
    outbox = Outbox(data / "outbox.sqlite3")
    outbox.put(turn)  # accepted, then the process died before the worker got to it
    proxy = make_proxy(data_dir=data)
    proxy.flush()
    first = {(m["id"], m["text"]) for m in proxy.memories("twice")}
    assert len(first) == 8
    # A crash after the memories were stored but before the turn left the outbox: it runs again.
    outbox.put(turn)
    assert outbox.counts()["pending"] == 1
    proxy.flush()
    assert {(m["id"], m["text"]) for m in proxy.memories("twice")} == first
    assert outbox.counts() == {"pending": 0, "failed": 0}
    outbox.close()


# --- SIGTERM: drain within write.drain_timeout_s --------------------------------------------


def outbox_counts(data_dir: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(data_dir / "outbox.sqlite3")) as db:
        rows = db.execute("SELECT status, COUNT(*) FROM turns GROUP BY status").fetchall()
    return {"pending": 0, "failed": 0, **dict(rows)}


def chat(proxy: ProxyProcess, user: str, text: str) -> float:
    """One turn; returns how long the answer took."""
    started = time.monotonic()
    response = proxy.http.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": text}]},
        headers={"x-user-id": user},
    )
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def test_sigterm_drains_the_pending_turns_before_exiting(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    upstream_url = f"{upstream.url}/v1"  # type: ignore[attr-defined]
    proxy = ProxyProcess(upstream_url, data, tmp_path / "proxy.log").wait_ready()
    try:
        for i in range(16):  # eight facts each: far faster to accept than to store
            chat(proxy, f"drain-{i}", MANY_FACTS)
        backlog = proxy.health()["memory"]["backlog"]["pending"]
        assert backlog > 0  # work was left when the signal came
        code, took = proxy.terminate()
    finally:
        proxy.close()
    assert code in (0, -signal.SIGTERM), proxy.log_tail()
    assert took < 10 + 5  # write.drain_timeout_s (default 10) and a margin
    assert outbox_counts(data) == {"pending": 0, "failed": 0}  # all stored before the exit
    # ... and stored for real: a new process finds them without any further processing.
    proxy = ProxyProcess(upstream_url, data, tmp_path / "proxy.log").wait_ready()
    try:
        assert all(len(proxy.memories(f"drain-{i}")) == 8 for i in range(16))
    finally:
        proxy.close()


async def _never_answer(connection: Connection) -> None:
    await forever()


@pytest.mark.timeout(120)
def test_stuck_extraction_never_holds_up_chats_nor_shutdown(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """The extraction model hangs: chats are still answered at once, the backlog is capped at
    write.max_backlog and shown in /healthz, SIGTERM exits within write.drain_timeout_s, and
    the turns that were queued are stored after the restart."""
    data = tmp_path / "data"
    upstream_url = f"{upstream.url}/v1"  # type: ignore[attr-defined]
    with RawUpstream(_never_answer) as extraction_model:
        stuck = {
            "MEMORY_PROXY_EXTRACTION__MODEL": "openai/stuck",
            "MEMORY_PROXY_EXTRACTION__API_BASE": extraction_model.url,
            "MEMORY_PROXY_EXTRACTION__API_KEY": "sk-test",
            "MEMORY_PROXY_EXTRACTION__TIMEOUT_S": "300",
            "MEMORY_PROXY_WRITE__MAX_BACKLOG": "5",
            "MEMORY_PROXY_WRITE__DRAIN_TIMEOUT_S": "1",
        }
        proxy = ProxyProcess(upstream_url, data, tmp_path / "proxy.log", env=stuck).wait_ready()
        try:
            chat(proxy, "stuck-0", fact("Lomira"))
            wait_until(lambda: extraction_model.bodies, timeout=60)  # the model call hangs
            took = [chat(proxy, f"stuck-{i}", fact(f"Lomira{i}")) for i in range(1, 12)]
            assert max(took) < 2.0, took
            memory = proxy.health()["memory"]
            assert memory["backlog"]["pending"] == 5
            assert memory["writes"]["accepted"] == 5
            assert memory["writes"]["refused_backlog_full"] == 7
            code, took_to_exit = proxy.terminate()
        finally:
            proxy.close()
    assert code in (0, -signal.SIGTERM), proxy.log_tail()
    assert took_to_exit < 1 + 4, f"shutdown took {took_to_exit:.1f} s"
    assert outbox_counts(data) == {"pending": 5, "failed": 0}  # kept for the next start
    proxy = ProxyProcess(upstream_url, data, tmp_path / "proxy.log").wait_ready()  # offline
    try:
        proxy.flush()
        stored = {f"stuck-{i}": proxy.memories(f"stuck-{i}") for i in range(12)}
    finally:
        proxy.close()
    assert all(len(stored[f"stuck-{i}"]) == 1 for i in range(5))
    assert all(stored[f"stuck-{i}"] == [] for i in range(5, 12))  # refused, never accepted


# --- a stream is in the outbox before its [DONE] reaches the client (issue 14, item 8) -----


async def _done_then_hold(connection: Connection) -> None:
    """An upstream that sends the whole answer and [DONE], then keeps the connection open (as
    real servers may, for seconds): the turn must not wait for it to close."""
    await connection.stream_head()
    await connection.chunk(sse("Noted, "))
    await connection.chunk(sse("I will remember."))
    await connection.chunk(b"data: [DONE]\n\n")
    await forever()


def _open_stream_until_done(proxy: ProxyProcess, user: str, text: str) -> socket.socket:
    """A streamed chat on a raw socket, read up to [DONE] and left open: a client library
    would close its connection when it is done, and that alone ends the stream in the proxy."""
    body = json.dumps(
        {"model": "m", "stream": True, "messages": [{"role": "user", "content": text}]}
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nx-user-id: {user}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=20)
    sock.sendall(head.encode() + body)
    received = b""
    while b"data: [DONE]\n\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"the stream ended without [DONE]: {received!r}"
        received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    return sock


@pytest.mark.timeout(120)
def test_kill_9_right_after_done_loses_no_streamed_turn(tmp_path: Path) -> None:
    """Four clients each hold a stream they have read to [DONE]; the upstream holds its side
    open too (on main the turn waited for the upstream to close). kill -9 then: every turn
    must come back."""
    data = tmp_path / "data"
    rng = random.Random(8)
    words = {f"held-{i}": unique_word(rng) for i in range(4)}
    with RawUpstream(_done_then_hold) as held:
        proxy = ProxyProcess(held.url, data, tmp_path / "proxy.log").wait_ready()
        try:
            with contextlib.ExitStack() as streams:
                for user, word in words.items():
                    streams.enter_context(_open_stream_until_done(proxy, user, fact(word)))
                proxy.kill()  # at once: every stream is still open at both ends
        finally:
            proxy.close()
    with RawUpstream(_done_then_hold) as held:
        proxy = ProxyProcess(held.url, data, tmp_path / "proxy.log").wait_ready()
        try:
            proxy.flush()
            for user, word in words.items():
                assert [m["text"] for m in proxy.memories(user)] == [fact(word)], user
        finally:
            proxy.close()
