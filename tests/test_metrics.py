"""GET /metrics after known traffic, read with prometheus-client's own parser: the counts are
the traffic's, and no label carries a user id."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Proxy, ProxyFactory
from tests.test_errors import assert_envelope

USERS = ("metrics-user-ada", "metrics-user-bo")


def scrape(proxy: Proxy) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = proxy.http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def chat(proxy: Proxy, text: str, **headers: str) -> httpx.Response:
    return proxy.http.post(
        "/v1/chat/completions",
        json={"model": "gpt-fake", "messages": [{"role": "user", "content": text}]},
        headers=headers,
    )


def test_metrics_count_the_traffic(proxy: Proxy) -> None:
    ada, bo = USERS
    statuses: Counter[str] = Counter()  # X-Memory-Status of each chat with a user, as answered

    def ask(text: str, user: str) -> httpx.Response:
        response = chat(proxy, text, **{"x-user-id": user})
        assert response.status_code == 200
        statuses[response.headers["x-memory-status"]] += 1
        return response

    for text in ("I play the violin.", "I grow tomatoes on my balcony."):
        ask(text, ada)
    proxy.flush()
    questions = [f"What instrument do I play? ({i})" for i in range(3)]
    assert {ask(q, ada).headers["x-memory-status"] for q in questions} == {"injected"}
    # The same request again: the conversation's blocks are resent, nothing is searched.
    assert ask(questions[-1], ada).headers["x-memory-status"] == "injected"
    assert ask("Hello there", bo).headers["x-memory-status"] == "none"
    assert chat(proxy, "No user here").headers["x-memory-status"] == "no-user"
    bad = proxy.http.post(
        "/v1/chat/completions", content=b"{", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert proxy.http.get("/v1/models").status_code == 200
    assert proxy.http.get("/memories/does-not-exist").status_code == 404
    proxy.flush()

    samples = scrape(proxy)
    requests = "memory_proxy_requests_total"
    route = "/v1/chat/completions"
    for status in ("injected", "none"):
        counted = value(samples, requests, route=route, method="POST", status="200", memory=status)
        assert counted == statuses[status], status
    assert value(samples, requests, route=route, method="POST", status="200", memory="no-user") == 1
    assert value(samples, requests, route=route, method="POST", status="400", memory="n/a") == 1
    models = {"route": "/v1/models", "method": "GET", "status": "200", "memory": "n/a"}
    assert value(samples, requests, **models) == 1
    missing = {"route": "/memories/{memory_id}", "method": "GET", "status": "404", "memory": "n/a"}
    assert value(samples, requests, **missing) == 1
    # Every call that searched (all with a user but the repeat) is observed once.
    searched = statuses["injected"] + statuses["none"] - 1
    assert value(samples, "memory_proxy_retrieval_seconds_count") == searched
    assert value(samples, "memory_proxy_injected_tokens_count") == searched
    assert value(samples, "memory_proxy_injected_tokens_sum") > 0
    injected = sum(
        value(samples, "memory_proxy_injected_memories_total", tier=tier)
        for tier in ("profile", "recent", "session", "relevant")
    )
    assert injected >= 3
    with_user = sum(statuses.values())  # 2 told + 3 questions + the repeat + bo's greeting
    assert with_user == 7
    assert value(samples, "memory_proxy_request_duration_seconds_count", route=route) == 9
    # The writer: every chat with a user was accepted and processed.
    assert value(samples, "memory_proxy_writes_total", outcome="accepted") == with_user
    assert value(samples, "memory_proxy_writes_total", outcome="processed") == with_user
    assert value(samples, "memory_proxy_writes_total", outcome="parked") == 0
    assert value(samples, "memory_proxy_write_backlog", state="pending") == 0
    assert value(samples, "memory_proxy_store_outages_total") == 0
    assert value(samples, "memory_proxy_writer_state", state="ok") == 1
    assert value(samples, "memory_proxy_extraction_calls_total") == 0
    assert value(samples, "memory_proxy_extraction_failures_total", reason="call") == 0
    assert value(samples, "memory_proxy_memory_up") == 1
    assert value(samples, "memory_proxy_index_cache_users") == 2
    assert value(samples, "memory_proxy_index_cache_memories") == len(proxy.memories(ada))
    logged = value(samples, "memory_proxy_injection_log_rows")
    assert logged + value(samples, "memory_proxy_injection_log_pending") == with_user
    recorded = value(samples, "memory_proxy_injection_log_entries_total", outcome="recorded")
    assert recorded == with_user
    assert value(samples, "process_resident_memory_bytes") > 50 * 2**20
    # Label values are route templates and fixed words, never who asked.
    text = proxy.http.get("/metrics").text
    for user in USERS:
        assert user not in text
    assert "does-not-exist" not in text


def test_an_unknown_method_does_not_grow_the_label_set(proxy: Proxy) -> None:
    for method in ("BREW", "PROPFIND"):
        proxy.http.request(method, "/healthz")
    samples = scrape(proxy)
    labels = {dict(key[1]).get("method") for key in samples if key[0].endswith("requests_total")}
    assert "BREW" not in labels and "PROPFIND" not in labels and "other" in labels


def test_metrics_can_be_turned_off(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(observability={"metrics": False})
    assert_envelope(proxy.http.get("/metrics"), 404, "metrics_off")
    response = chat(proxy, "hello", **{"x-user-id": "zed"})
    assert response.status_code == 200 and response.headers["x-memory-request-id"]


def test_metrics_need_no_admin_key(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(admin_key="k-metrics-1")
    samples: dict[Any, float] = scrape(proxy)
    assert value(samples, "memory_proxy_memory_up") == 1
