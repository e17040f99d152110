"""The injection log through a real proxy: every call with a user leaves an entry that names the
memories the model saw (by tier), tied to the response by X-Memory-Request-Id; it pages, it is
bounded, it is erased with the user or the session, it can be turned off, and a database it
cannot read leaves the proxy serving."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.core.errors import DatabaseTooNew
from proxy.memory.storage.injections import MIGRATIONS, Injection, InjectionStore
from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory
from tests.test_errors import assert_envelope

QUESTION = "Which instrument do I play, and where does my sister work?"


def ask(proxy: Proxy, user: str | None, text: str = QUESTION, **headers: str) -> httpx.Response:
    all_headers = {**({"x-user-id": user} if user else {}), **headers}
    response = proxy.http.post(
        "/v1/chat/completions",
        json={"model": "gpt-fake", "messages": [{"role": "user", "content": text}]},
        headers=all_headers,
    )
    assert response.status_code == 200, response.text
    return response


def injections(proxy: Proxy, **params: Any) -> dict[str, Any]:
    response = proxy.http.get("/memories/injections", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def entry(proxy: Proxy, request_id: str) -> dict[str, Any]:
    response = proxy.http.get(f"/memories/injections/{request_id}")
    assert response.status_code == 200, response.text
    return response.json()


def all_ids(logged: dict[str, Any]) -> list[str]:
    """The ids injected, every tier."""
    return [memory_id for ids in logged["injected"].values() for memory_id in ids]


def test_a_call_is_logged_with_the_memories_the_model_saw(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    scope = {"x-session-id": "s-1", "x-agent-id": "tutor"}
    proxy.tell("lena", "I play the cello in an orchestra.", **scope)
    proxy.tell("lena", "My sister works at the aquarium in Porto.", **scope)
    stored = {m["text"]: m["id"] for m in proxy.memories("lena")}
    response = ask(proxy, "lena", **scope)
    request_id = response.headers["x-memory-request-id"]
    assert response.headers["x-memory-status"] == "injected"

    logged = entry(proxy, request_id)
    assert logged["route"] == "/v1/chat/completions"
    assert logged["model"] == "gpt-fake"
    assert (logged["user_id"], logged["session_id"], logged["agent_id"]) == ("lena", "s-1", "tutor")
    assert logged["status"] == "injected"
    ids = all_ids(logged)
    assert logged["count"] == len(ids) == int(response.headers["x-memory-count"])
    assert set(ids) <= set(stored.values()) and ids
    assert set(logged["injected"]) <= {"profile", "recent", "session", "relevant"}
    # What the model saw, and what the log says it saw, are the same memories.
    seen = json.dumps(upstream.last_chat().json["messages"], ensure_ascii=False)
    for memory in logged["memories"]:
        assert memory["id"] in ids and memory["text"] in seen
    assert logged["missing"] == []
    assert 0 < logged["tokens"] <= proxy.settings.retrieval.token_budget
    assert logged["retrieval_ms"] > 0
    # ... and a memory's own page lists the call.
    # ... and a memory's own page lists the call (newest first; the second tell() carried it
    # too, as the user's most recent memory).
    cello = stored["I play the cello in an orchestra."]
    calls = proxy.http.get(f"/memories/{cello}/injections").json()["data"]
    assert calls[0]["request_id"] == request_id
    assert all(cello in all_ids(c) for c in calls)


def test_every_kind_of_call_with_a_user_is_logged_and_none_without(proxy: Proxy) -> None:
    proxy.tell("omar", "I grow tomatoes on my balcony.")
    statuses = {
        ask(proxy, "omar", "What do I grow?").headers["x-memory-request-id"]: "injected",
        ask(proxy, "omar", "Zebra crossing rules?").headers["x-memory-request-id"]: "none",
        ask(proxy, "omar", **{"x-memory-mode": "off"}).headers["x-memory-request-id"]: "off",
    }
    no_user = ask(proxy, None)
    assert no_user.headers["x-memory-request-id"]  # every response has one
    listed = injections(proxy, user_id="omar")["data"]
    mine = {e["request_id"]: e["status"] for e in listed if e["request_id"] in statuses}
    assert mine == statuses
    everyone = injections(proxy)["data"]
    assert no_user.headers["x-memory-request-id"] not in {e["request_id"] for e in everyone}
    assert all(e["user_id"] == "omar" for e in everyone)
    # A deleted memory's calls stay findable; the call's detail says it is gone.
    first = next(rid for rid, status in statuses.items() if status == "injected")
    (gone,) = all_ids(entry(proxy, first))
    assert proxy.http.delete(f"/memories/{gone}").status_code == 200
    detail = entry(proxy, first)
    assert detail["missing"] == [gone] and detail["memories"] == []
    assert [c["request_id"] for c in proxy.http.get(f"/memories/{gone}/injections").json()["data"]]


def test_a_resent_conversation_logs_what_it_carried(proxy: Proxy) -> None:
    proxy.tell("ivo", "I play the cello in an orchestra.")
    first = entry(proxy, ask(proxy, "ivo").headers["x-memory-request-id"])
    again = entry(proxy, ask(proxy, "ivo").headers["x-memory-request-id"])  # the same request
    assert first["status"] == again["status"] == "injected"
    assert again["injected"] == {"carried": sorted(all_ids(first))}
    assert again["count"] == first["count"] > 0


def test_every_memory_route_is_logged_under_its_own_route(proxy: Proxy) -> None:
    """Routes that recall through proxy/http/turn.py get the log for free, the base URL that
    carries the user too; the route is the API's, never a path with the user in it."""
    proxy.tell("noa", "I live in Lisbon.")
    calls = {
        "/v1/chat/completions": proxy.http.post(
            "/u/noa/v1/chat/completions",
            json={"model": "gpt-fake", "messages": [{"role": "user", "content": "Where?"}]},
        ),
        "/v1/responses": proxy.http.post(
            "/v1/responses",
            json={"model": "gpt-fake", "input": "Where do I live?"},
            headers={"x-user-id": "noa"},
        ),
        "/v1/messages": proxy.http.post(
            "/u/noa/v1/messages",
            json={
                "model": "claude-fake",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "Where do I live?"}],
            },
            headers={"x-api-key": "sk-ant", "anthropic-version": "2023-06-01"},
        ),
    }
    for route, response in calls.items():
        assert response.status_code == 200, response.text
        logged = entry(proxy, response.headers["x-memory-request-id"])
        assert (logged["route"], logged["user_id"]) == (route, "noa")
        assert logged["status"] == response.headers["x-memory-status"] == "injected"
    models = {e["route"]: e["model"] for e in injections(proxy, user_id="noa")["data"]}
    assert models["/v1/messages"] == "claude-fake" and models["/v1/responses"] == "gpt-fake"
    text = proxy.http.get("/metrics").text
    assert 'route="/v1/messages"' in text and "noa" not in text and "unmatched" not in text


def test_the_log_pages_newest_first(proxy: Proxy) -> None:
    ids = [ask(proxy, "pia", f"question {i}").headers["x-memory-request-id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        page = injections(proxy, user_id="pia", limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [e["request_id"] for e in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == ids[::-1]
    bad = proxy.http.get("/memories/injections", params={"cursor": "not-a-cursor"})
    assert_envelope(bad, 400, "invalid_cursor")
    unknown = proxy.http.get("/memories/injections/nope")
    assert_envelope(unknown, 404, "not_found")


def test_the_log_is_erased_with_the_user_and_with_a_session(proxy: Proxy) -> None:
    proxy.tell("rui", "I collect old maps.")
    ask(proxy, "rui", "maps?", **{"x-session-id": "a"})
    ask(proxy, "rui", "maps?", **{"x-session-id": "b"})
    ask(proxy, "sam", "maps?")
    erased = proxy.http.delete("/memories", params={"user_id": "rui", "session_id": "a"})
    assert erased.status_code == 200
    left = {e["session_id"] for e in injections(proxy, user_id="rui")["data"]}
    assert "a" not in left and "b" in left
    # Calls still waiting in the writer's batch are erased too: none may come back later.
    ask(proxy, "rui", "maps?", **{"x-session-id": "b"})
    assert proxy.http.delete("/memories", params={"user_id": "rui"}).status_code == 200
    assert injections(proxy, user_id="rui")["data"] == []
    assert [e["user_id"] for e in injections(proxy)["data"]] == ["sam"]
    database = proxy.settings.data_dir / "injections.sqlite3"
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM injections WHERE user_id = 'rui'").fetchone() == (
            0,
        )


def test_the_log_keeps_at_most_max_rows(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(observability={"injection_log_max_rows": 5})
    ids = [ask(proxy, "tom", f"question {i}").headers["x-memory-request-id"] for i in range(9)]
    listed = injections(proxy, user_id="tom", limit=100)["data"]  # a read flushes first
    assert [e["request_id"] for e in listed] == ids[::-1][:5]


def test_entries_older_than_the_configured_days_are_pruned(tmp_path: Path) -> None:
    store = InjectionStore(tmp_path / "injections.sqlite3")
    now = time.time()
    old = [_entry(f"old-{i}", now - 8 * 86_400) for i in range(3)]
    new = [_entry(f"new-{i}", now - 60) for i in range(4)]
    store.add(old + new)
    assert store.prune(older_than=now - 7 * 86_400, max_rows=100) == 3
    assert [e.request_id for e in store.page(None, None, 10)] == [
        "new-3",
        "new-2",
        "new-1",
        "new-0",
    ]
    assert store.prune(older_than=0, max_rows=2) == 2
    assert [e.request_id for e in store.page(None, None, 10)] == ["new-3", "new-2"]
    store.close()


def test_the_schema_is_versioned_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "injections.sqlite3"
    InjectionStore(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(DatabaseTooNew, match="newer memory-proxy"):
        InjectionStore(path)


def test_a_log_it_cannot_open_leaves_the_proxy_serving(
    make_proxy: ProxyFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "newer"
    path = data_dir / "injections.sqlite3"
    InjectionStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    proxy = make_proxy(data_dir=data_dir)
    response = ask(proxy, "uma")
    assert response.headers["x-memory-status"] == "none"
    assert_envelope(proxy.http.get("/memories/injections"), 404, "injection_log_off")
    assert "injection log is unavailable" in caplog.text


def test_the_log_can_be_turned_off(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(observability={"injection_log": False})
    response = ask(proxy, "vic")
    assert response.headers["x-memory-request-id"]
    assert_envelope(proxy.http.get("/memories/injections"), 404, "injection_log_off")
    assert_envelope(proxy.http.get("/memories/x/injections"), 404, "injection_log_off")
    assert not (proxy.settings.data_dir / "injections.sqlite3").exists()


def test_the_log_routes_follow_the_admin_rules(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(admin_key="k-observe-1")
    request_id = ask(proxy, "wen").headers["x-memory-request-id"]
    for path in (
        "/memories/injections",
        f"/memories/injections/{request_id}",
        "/memories/m/injections",
    ):
        assert_envelope(proxy.http.get(path), 401, "invalid_admin_key")
        ok = proxy.http.get(path, headers={"authorization": "Bearer k-observe-1"})
        assert ok.status_code in (200, 404), ok.text
    listed = proxy.http.get(
        "/memories/injections", headers={"authorization": "Bearer k-observe-1"}
    ).json()["data"]
    assert [e["request_id"] for e in listed] == [request_id]


def _entry(request_id: str, at: float) -> Injection:
    return Injection(
        request_id=request_id,
        at=at,
        route="/v1/chat/completions",
        model="m",
        user_id="u",
        session_id=None,
        agent_id=None,
        status="none",
    )
