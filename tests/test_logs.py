"""Log lines of a real `memory-proxy serve` at INFO: one JSON object per line with the request's
id (the X-Memory-Request-Id the client got), one line per request, and never memory text, a
key or a query string."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path

import httpx

from proxy.observe.logs import TEXT_FORMAT, JsonFormatter, RequestIdFilter
from testbed.fake_upstream import FakeUpstream
from testbed.processes import ProxyProcess
from tests.conftest import Proxy

MEMORY_TEXT = "I keep my bonsai collection on the north balcony."
CLIENT_KEY = "sk-client-key-never-logged-4242"
UPSTREAM_KEY = "sk-upstream-key-never-logged-7777"


def test_json_lines_carry_the_request_id_and_no_memory_text(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    log_path = tmp_path / "proxy.log"
    child = ProxyProcess(
        f"{upstream.url}/v1",  # type: ignore[attr-defined]
        tmp_path / "data",
        log_path,
        env={
            "MEMORY_PROXY_LOG_FORMAT": "json",
            "MEMORY_PROXY_UPSTREAM_API_KEY": UPSTREAM_KEY,
        },
        log_level="info",
    )
    try:
        child.wait_ready()
        body = {"model": "gpt-fake", "messages": [{"role": "user", "content": MEMORY_TEXT}]}
        told = child.http.post(
            "/v1/chat/completions",
            json=body,
            headers={"x-user-id": "log-user", "authorization": f"Bearer {CLIENT_KEY}"},
        )
        assert told.status_code == 200
        child.flush()
        asked = child.http.post(
            "/v1/chat/completions?user_id=log-user",
            json={**body, "messages": [{"role": "user", "content": "Where are my bonsai?"}]},
        )
        assert asked.headers["x-memory-status"] == "injected"
        assert MEMORY_TEXT in child.http.get("/memories", params={"user_id": "log-user"}).text
        code, _ = child.terminate()
        assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    finally:
        child.close()

    text = log_path.read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("--- ")]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message", "request_id"} <= r.keys() for r in records)
    requests = [r for r in records if r["logger"] == "proxy.access"]
    by_id = {r["request_id"]: r for r in requests}
    for response in (told, asked):
        line = by_id[response.headers["x-memory-request-id"]]
        assert line["route"] == line["path"] == "/v1/chat/completions"
        assert line["status"] == 200 and line["duration_ms"] > 0
    assert by_id[asked.headers["x-memory-request-id"]]["memory"] == "injected"
    assert any(r["message"].startswith("Uvicorn running") for r in records)  # uvicorn's too
    for secret in (MEMORY_TEXT, "bonsai", CLIENT_KEY, UPSTREAM_KEY, "user_id=log-user"):
        assert secret not in text


def test_text_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("proxy.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    RequestIdFilter().filter(record)
    assert logging.Formatter(TEXT_FORMAT).format(record).endswith("proxy.x [-] hello you")
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello you" and line["request_id"] == "-"


def test_the_response_id_is_new_for_every_request(proxy: Proxy) -> None:
    ids = {httpx.get(f"{proxy.url}/healthz").headers["x-memory-request-id"] for _ in range(20)}
    assert len(ids) == 20 and all(len(i) == 24 for i in ids)
