"""The memory management API through a real proxy: every route, auth, paging, export/import,
erasure and expiry."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.app import create_app
from proxy.core.errors import Forbidden, InvalidRequest, Unauthorized
from proxy.core.records import Memory
from proxy.core.scope import Scope
from proxy.http.auth import authorize, is_loopback
from proxy.http.memories.paging import decode_cursor, encode_cursor, paginate
from proxy.memory.embed.minilm import MiniLMEmbedder
from proxy.settings import Settings
from testbed.fake_upstream import FakeUpstream
from testbed.servers import ServerThread
from tests.conftest import Proxy, ProxyFactory, wait_until
from tests.test_errors import assert_envelope

JSONL = {"content-type": "application/x-ndjson"}
FACTS = [
    "I play the violin in a string quartet.",
    "My sister Ana is a marine biologist.",
    "I am allergic to penicillin.",
    "I grow tomatoes on my balcony.",
    "I have a collection of old maps.",
]


def create(http: httpx.Client, user: str, text: str, **fields: Any) -> dict[str, Any]:
    response = http.post("/memories", json={"user_id": user, "text": text, **fields})
    assert response.status_code == 201, response.text
    (memory,) = response.json()["added"]
    return memory


def listing(http: httpx.Client, user: str, **params: Any) -> dict[str, Any]:
    response = http.get("/memories", params={"user_id": user, **params})
    assert response.status_code == 200, response.text
    return response.json()


def history(http: httpx.Client, memory_id: str) -> list[dict[str, Any]]:
    response = http.get(f"/memories/{memory_id}/history")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def export(http: httpx.Client, **params: str) -> list[str]:
    response = http.get("/memories/export", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return response.text.splitlines()


def ask(proxy: Proxy, user: str, text: str) -> Any:
    with proxy.client(user) as client:
        return client.chat.completions.with_raw_response.create(
            model="gpt-fake", messages=[{"role": "user", "content": text}]
        )


# --- create, get, list ----------------------------------------------------------------------


def test_create_from_text_then_get_and_list(proxy: Proxy) -> None:
    memory = create(
        proxy.http,
        "amy",
        "I play the violin in a string quartet.",
        kind="preference",
        session_id="s1",
        agent_id="coach",
        metadata={"origin": "onboarding"},
        occurred_at="2024-03-01T09:00:00",
    )
    assert memory["object"] == "memory"
    assert (memory["user_id"], memory["session_id"], memory["agent_id"]) == ("amy", "s1", "coach")
    assert memory["kind"] == "preference" and memory["status"] == "active"
    assert memory["metadata"] == {"origin": "onboarding"}
    assert memory["occurred_at"].startswith("2024-03-01T09:00:00")  # no zone given: UTC
    assert memory["expires_at"] is None
    got = proxy.http.get(f"/memories/{memory['id']}")
    assert got.status_code == 200 and got.json() == memory
    page = listing(proxy.http, "amy")
    assert page["object"] == "list" and page["data"] == [memory]
    assert page["has_more"] is False and page["next_cursor"] is None
    assert [e["event"] for e in history(proxy.http, memory["id"])] == ["ADD"]


def test_creating_the_same_text_twice_updates_instead_of_adding(proxy: Proxy) -> None:
    first = create(proxy.http, "bo", "I am allergic to penicillin.")
    again = proxy.http.post(
        "/memories", json={"user_id": "bo", "text": "I'm allergic to penicillin."}
    )
    assert again.status_code == 201
    body = again.json()
    assert body["added"] == [] and [m["id"] for m in body["updated"]] == [first["id"]]
    assert len(listing(proxy.http, "bo")["data"]) == 1


def test_a_newer_residence_supersedes_the_older_one(proxy: Proxy) -> None:
    berlin = create(proxy.http, "cy", "I live in Berlin.", occurred_at="2024-01-01T00:00:00Z")
    response = proxy.http.post(
        "/memories",
        json={"user_id": "cy", "text": "I moved to Lisbon.", "occurred_at": "2024-06-01T00:00:00Z"},
    )
    assert [m["id"] for m in response.json()["superseded"]] == [berlin["id"]]
    assert [m["text"] for m in listing(proxy.http, "cy")["data"]] == ["I moved to Lisbon."]
    both = listing(proxy.http, "cy", include_superseded="true")["data"]
    assert {m["status"] for m in both} == {"active", "superseded"}


def test_create_from_messages_runs_the_extractor_on_user_words_only(proxy: Proxy) -> None:
    secret = "sk-proj-" + "Q7x9" * 10
    response = proxy.http.post(
        "/memories",
        json={
            "user_id": "di",
            "messages": [
                {"role": "user", "content": f"I grow tomatoes on my balcony. My key is {secret}."},
                {"role": "assistant", "content": "You live in Paris and you love opera."},
                {"role": "user", "content": [{"type": "text", "text": "What time is it?"}]},
                {"role": "user", "content": "I have a collection of old maps."},
            ],
        },
    )
    assert response.status_code == 201, response.text
    texts = sorted(m["text"] for m in response.json()["added"])
    assert texts == ["I grow tomatoes on my balcony.", "I have a collection of old maps."]
    stored = " ".join(m["text"] for m in listing(proxy.http, "di")["data"])
    assert secret not in stored and "Paris" not in stored


def test_forget_in_messages_deletes_the_matching_memory(proxy: Proxy) -> None:
    luna = create(proxy.http, "ed", "I have a cat named Luna.")
    response = proxy.http.post(
        "/memories",
        json={
            "user_id": "ed",
            "messages": [
                {"role": "user", "content": "Please forget that I have a cat named Luna."}
            ],
        },
    )
    assert response.json()["deleted"] == [luna["id"]]
    assert listing(proxy.http, "ed")["data"] == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"user_id": "x"}, "text"),
        ({"user_id": "x", "text": "I like tea.", "messages": [{"role": "user"}]}, "text"),
        ({"user_id": "x", "text": "   "}, "text"),
        ({"user_id": "x", "text": "My token is ghp_" + "a1B2" * 9}, "text"),
        ({"user_id": "", "text": "I like tea."}, "user_id"),
        ({"user_id": "x", "text": "I like tea.", "kind": "gossip"}, "kind"),
        (
            {"user_id": "x", "text": "I like tea.", "ttl_seconds": 5, "expires_at": "2999-01-01"},
            "ttl_seconds",
        ),
        ({"user_id": "x", "text": "I like tea.", "ttl_seconds": 0}, "ttl_seconds"),
        ({"user_id": "x", "text": "I like tea.", "metadata": {"bad key": "v"}}, "metadata"),
        (
            {"user_id": "x", "text": "I like tea.", "expires_at": "2001-01-01T00:00:00Z"},
            "expires_at",
        ),
    ],
)
def test_bad_creates_are_400_envelopes(
    proxy: Proxy, body: dict[str, Any], param: str | None
) -> None:
    error = assert_envelope(proxy.http.post("/memories", json=body), 400)
    assert error["param"] == param and "invalid request" not in error["message"]
    assert "ghp_" not in error["message"]  # a refused secret is not echoed back
    assert listing(proxy.http, "x")["data"] == []


def test_get_of_an_unknown_id_is_a_404_envelope(proxy: Proxy) -> None:
    assert_envelope(proxy.http.get("/memories/no-such-id"), 404, "not_found")
    assert_envelope(proxy.http.get("/memories/no-such-id/history"), 404, "not_found")
    assert_envelope(proxy.http.patch("/memories/no-such-id", json={"text": "x"}), 404)
    assert_envelope(proxy.http.delete("/memories/no-such-id"), 404)


# --- list filters and pagination ------------------------------------------------------------


def test_a_cursor_survives_the_deletion_of_the_memory_it_names() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    memories = [
        Memory(id=f"m{i}", text=f"fact {i}", scope=Scope("u"), created_at=start, occurred_at=start)
        for i in range(5)
    ]  # one created_at for all: the id breaks the tie
    first = paginate(memories, None, 2)
    assert [m.id for m in first.items] == ["m0", "m1"] and first.next_cursor
    without_m1 = [m for m in memories if m.id != "m1"]
    second = paginate(without_m1, first.next_cursor, 2)
    assert [m.id for m in second.items] == ["m2", "m3"]
    last = paginate(without_m1, second.next_cursor, 2)
    assert [m.id for m in last.items] == ["m4"] and last.next_cursor is None
    assert paginate([], None, 10).next_cursor is None
    for bad in ("", "bm90IGpzb24", encode_cursor(memories[0])[:-3] + "!!!"):
        with pytest.raises(InvalidRequest):
            decode_cursor(bad)


def test_listing_pages_through_every_memory_once_in_order(proxy: Proxy) -> None:
    created = [create(proxy.http, "fe", text)["id"] for text in FACTS]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = listing(proxy.http, "fe", **params)
        pages += 1
        seen += [m["id"] for m in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
        if pages == 1:  # a memory added mid-way is seen at the end, nothing skipped or repeated
            created.append(create(proxy.http, "fe", "I once climbed Mount Kilimanjaro.")["id"])
    assert pages == 3
    assert seen == created
    assert [m["id"] for m in listing(proxy.http, "fe", limit=1000)["data"]] == created


def test_bad_paging_parameters_are_400(proxy: Proxy) -> None:
    assert_envelope(proxy.http.get("/memories", params={"user_id": "u", "cursor": "%%%"}), 400)
    assert_envelope(proxy.http.get("/memories", params={"user_id": "u", "limit": 0}), 400)
    assert_envelope(proxy.http.get("/memories", params={"user_id": "u", "limit": 1001}), 400)


def test_listing_filters_by_session_and_agent(proxy: Proxy) -> None:
    create(proxy.http, "gi", FACTS[0], session_id="s1", agent_id="a1")
    create(proxy.http, "gi", FACTS[1], session_id="s2", agent_id="a1")
    create(proxy.http, "gi", FACTS[2], session_id="s2", agent_id="a2")
    assert len(listing(proxy.http, "gi")["data"]) == 3
    assert [m["text"] for m in listing(proxy.http, "gi", session_id="s1")["data"]] == [FACTS[0]]
    assert len(listing(proxy.http, "gi", agent_id="a1")["data"]) == 2
    both = listing(proxy.http, "gi", session_id="s2", agent_id="a2")["data"]
    assert [m["text"] for m in both] == [FACTS[2]]


# --- search ---------------------------------------------------------------------------------


def test_search_finds_the_relevant_memory_and_respects_k(proxy: Proxy) -> None:
    for text in FACTS:
        create(proxy.http, "hu", text)
    create(proxy.http, "other", "I play the violin too.")
    response = proxy.http.post(
        "/memories/search", json={"user_id": "hu", "query": "Which instrument do I play?", "k": 1}
    )
    assert response.status_code == 200, response.text
    (hit,) = response.json()["data"]
    assert hit["text"] == FACTS[0] and hit["user_id"] == "hu"
    assert hit["score"] > 0 and 0 < hit["similarity"] <= 1
    wide = proxy.http.post(
        "/memories/search", json={"user_id": "hu", "query": "violin maps tomatoes", "k": 10}
    ).json()["data"]
    assert 1 <= len(wide) <= len(FACTS) and {m["user_id"] for m in wide} == {"hu"}
    assert_envelope(proxy.http.post("/memories/search", json={"user_id": "hu", "query": ""}), 400)
    bad_k = {"user_id": "hu", "query": "violin", "k": 0}
    assert_envelope(proxy.http.post("/memories/search", json=bad_k), 400)


# --- update, delete, history ----------------------------------------------------------------


def test_update_changes_text_and_metadata_and_is_recorded(proxy: Proxy) -> None:
    memory = create(proxy.http, "ida", "I grow tomatoes on my balcony.")
    response = proxy.http.patch(
        f"/memories/{memory['id']}",
        json={"text": "I grow chillies on my balcony.", "metadata": {"checked": "yes"}},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["text"] == "I grow chillies on my balcony."
    assert updated["metadata"] == {"checked": "yes"} and updated["updated_at"] is not None
    assert proxy.http.get(f"/memories/{memory['id']}").json() == updated
    events = history(proxy.http, memory["id"])
    assert [e["event"] for e in events] == ["ADD", "UPDATE"]
    assert events[1]["old_text"] == "I grow tomatoes on my balcony."
    assert events[1]["new_text"] == "I grow chillies on my balcony."
    found = proxy.http.post("/memories/search", json={"user_id": "ida", "query": "chillies"})
    assert [m["id"] for m in found.json()["data"]] == [memory["id"]]
    url = f"/memories/{memory['id']}"
    assert "at least one of" in assert_envelope(proxy.http.patch(url, json={}), 400)["message"]
    assert assert_envelope(proxy.http.patch(url, json={"text": None}), 400)["param"] == "text"
    assert assert_envelope(proxy.http.patch(url, json={"metadata": None}), 400)["param"]


def test_update_sets_and_clears_the_expiry(proxy: Proxy) -> None:
    memory = create(proxy.http, "jan", "I have a collection of old maps.")
    url = f"/memories/{memory['id']}"
    with_ttl = proxy.http.patch(url, json={"ttl_seconds": 3600}).json()
    expires = datetime.fromisoformat(with_ttl["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    at = proxy.http.patch(url, json={"expires_at": "2999-01-01T00:00:00Z"}).json()
    assert at["expires_at"].startswith("2999-01-01T00:00:00")
    assert proxy.http.patch(url, json={"expires_at": None}).json()["expires_at"] is None
    assert at["text"] == memory["text"]


def test_delete_one_memory(proxy: Proxy) -> None:
    keep = create(proxy.http, "kai", FACTS[0])
    gone = create(proxy.http, "kai", FACTS[1])
    response = proxy.http.delete(f"/memories/{gone['id']}")
    assert response.json() == {"object": "memory.deleted", "id": gone["id"], "deleted": True}
    assert_envelope(proxy.http.get(f"/memories/{gone['id']}"), 404)
    assert [m["id"] for m in listing(proxy.http, "kai")["data"]] == [keep["id"]]
    assert [e["event"] for e in history(proxy.http, gone["id"])] == ["ADD", "DELETE"]


# --- erasure --------------------------------------------------------------------------------


def test_erasing_a_user_leaves_every_other_user_untouched(proxy: Proxy) -> None:
    for user in ("lea", "lea2", "mo"):
        for text in FACTS[:3]:
            create(proxy.http, user, text, session_id="s1")
    proxy.tell("lea", "I collect vintage fountain pens.")  # chat-written memories go too
    before = {user: listing(proxy.http, user)["data"] for user in ("lea2", "mo")}
    lea_ids = [m["id"] for m in listing(proxy.http, "lea")["data"]]
    assert len(lea_ids) == 4
    response = proxy.http.delete("/memories", params={"user_id": "lea"})
    assert response.json() == {
        "object": "memory.erased",
        "user_id": "lea",
        "session_id": None,
        "deleted": 4,
    }
    assert listing(proxy.http, "lea")["data"] == []
    for memory_id in lea_ids:  # erasure takes the history with it
        assert_envelope(proxy.http.get(f"/memories/{memory_id}/history"), 404)
    assert {user: listing(proxy.http, user)["data"] for user in ("lea2", "mo")} == before
    for memory in before["mo"]:
        assert [e["event"] for e in history(proxy.http, memory["id"])] == ["ADD"]
    assert_envelope(proxy.http.delete("/memories"), 400)  # no "delete everything" by accident


def test_erasing_a_session_keeps_the_users_other_sessions(proxy: Proxy) -> None:
    create(proxy.http, "ned", FACTS[0], session_id="s1")
    create(proxy.http, "ned", FACTS[1], session_id="s1")
    kept = create(proxy.http, "ned", FACTS[2], session_id="s2")
    response = proxy.http.delete("/memories", params={"user_id": "ned", "session_id": "s1"})
    assert response.json()["deleted"] == 2 and response.json()["session_id"] == "s1"
    assert [m["id"] for m in listing(proxy.http, "ned")["data"]] == [kept["id"]]
    assert [e["event"] for e in history(proxy.http, kept["id"])] == ["ADD"]


# --- export, import, stats ------------------------------------------------------------------


def test_export_then_import_into_an_empty_data_dir_gives_the_same_memories(
    make_proxy: ProxyFactory,
) -> None:
    source = make_proxy()
    create(source.http, "ola", FACTS[0], session_id="s1", metadata={"k": "v"})
    create(source.http, "ola", "I live in Berlin.", occurred_at="2024-01-01T00:00:00Z")
    create(source.http, "ola", "I moved to Lisbon.", occurred_at="2024-06-01T00:00:00Z")
    create(source.http, "pia", FACTS[1], agent_id="coach", ttl_seconds=86400)
    source.tell("pia", "我喜欢喝乌龙茶，不喜欢咖啡。")
    lines = export(source.http)
    stored = [listing(source.http, u, include_superseded="true")["data"] for u in ("ola", "pia")]
    assert len(lines) == sum(map(len, stored)) >= 5  # the superseded Berlin statement travels too
    pia_lines = sorted(line for line in lines if json.loads(line)["user_id"] == "pia")
    assert sorted(export(source.http, user_id="pia")) == pia_lines

    target = make_proxy()
    assert export(target.http) == []
    response = target.http.post(
        "/memories/import",
        content="\n".join(lines).encode() + b"\n\n",
        headers={"content-type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "object": "memory.import",
        "imported": len(lines),
        "added": len(lines),
        "updated": 0,
        "unchanged": 0,
    }
    assert sorted(export(target.http)) == sorted(lines)
    for user in ("ola", "pia"):
        assert listing(target.http, user) == listing(source.http, user)
    query = {"user_id": "pia", "query": "我喜欢喝什么茶？"}
    hit = target.http.post("/memories/search", json=query).json()
    assert hit["data"] and "乌龙茶" in hit["data"][0]["text"]

    again = target.http.post("/memories/import", content="\n".join(lines), headers=JSONL)
    assert again.json()["unchanged"] == len(lines) and again.json()["added"] == 0
    first_id = listing(target.http, "pia")["data"][0]["id"]
    assert [e["event"] for e in history(target.http, first_id)] == ["ADD"]  # not re-recorded


def test_import_overwrites_changed_memories_and_reports_bad_lines(proxy: Proxy) -> None:
    memory = create(proxy.http, "quinn", FACTS[0])
    changed = {**memory, "text": "I play the viola in a string quartet."}
    new = {**memory, "id": "imported-1", "text": FACTS[3]}
    body = json.dumps(changed) + "\n" + json.dumps(new) + "\n" + '{"id": "x"}\n'
    error = assert_envelope(proxy.http.post("/memories/import", content=body, headers=JSONL), 400)
    assert error["code"] == "invalid_import_line" and error["message"].startswith("line 3:")
    texts = sorted(m["text"] for m in listing(proxy.http, "quinn")["data"])
    assert texts == sorted([changed["text"], new["text"]])  # lines before the bad one are stored
    events = history(proxy.http, memory["id"])
    assert [e["event"] for e in events] == ["ADD", "UPDATE"] and events[1]["source"] == "import"
    moved = {**new, "user_id": "quinn2"}  # an id held by another user moves to the imported one
    assert (
        proxy.http.post("/memories/import", content=json.dumps(moved), headers=JSONL).json()[
            "updated"
        ]
        == 0
    )
    assert [m["id"] for m in listing(proxy.http, "quinn2")["data"]] == ["imported-1"]
    assert "imported-1" not in [m["id"] for m in listing(proxy.http, "quinn")["data"]]
    secret = {**new, "id": "imported-2", "text": "My key is sk-proj-" + "Q7x9" * 10}
    refused = assert_envelope(
        proxy.http.post("/memories/import", content=json.dumps(secret), headers=JSONL), 400
    )
    assert "Q7x9" not in refused["message"]


def test_stats_count_memories_per_user(proxy: Proxy) -> None:
    for text in FACTS[:3]:
        create(proxy.http, "ray", text)
    create(proxy.http, "sue", FACTS[3])
    create(proxy.http, "sue", "I live in Rome.", occurred_at="2020-01-01T00:00:00Z")
    create(proxy.http, "sue", "I live in Oslo.", occurred_at="2021-01-01T00:00:00Z")
    response = proxy.http.get("/memories/stats")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "object": "memory.stats",
        "total": 5,
        "superseded": 1,
        "users": [
            {"user_id": "ray", "memories": 3, "superseded": 0},
            {"user_id": "sue", "memories": 2, "superseded": 1},
        ],
    }


# --- expiry ---------------------------------------------------------------------------------


def test_an_expired_memory_is_not_injected_listed_or_found(
    proxy: Proxy, upstream: FakeUpstream
) -> None:
    memory = create(proxy.http, "tom", "I drive a red Vespa scooter.")
    assert ask(proxy, "tom", "What scooter do I drive?").headers["x-memory-status"] == "injected"
    proxy.http.patch(f"/memories/{memory['id']}", json={"ttl_seconds": 1})
    wait_until(lambda: proxy.http.get(f"/memories/{memory['id']}").status_code == 404, 5)
    raw = ask(proxy, "tom", "What scooter do I drive?")
    assert raw.headers["x-memory-status"] == "none"
    assert "Vespa" not in upstream.last_chat().memory_text()
    assert listing(proxy.http, "tom")["data"] == []
    assert proxy.http.get("/memories/stats").json()["total"] == 0
    assert export(proxy.http) == []


def test_the_default_ttl_applies_to_memories_extracted_from_messages(
    make_proxy: ProxyFactory,
) -> None:
    proxy = make_proxy(write={"default_ttl_days": 2})
    messages = [{"role": "user", "content": "I grow tomatoes on my balcony."}]
    response = proxy.http.post("/memories", json={"user_id": "uma", "messages": messages})
    (extracted,) = response.json()["added"]
    left = datetime.fromisoformat(extracted["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=1, hours=23) < left <= timedelta(days=2)
    explicit = create(proxy.http, "uma", FACTS[0])
    assert explicit["expires_at"] is None  # an explicit text is kept until it is deleted


# --- auth -----------------------------------------------------------------------------------


ADMIN_KEY = "test-admin-key-0123"


def test_with_an_admin_key_every_memory_route_needs_it(make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(admin_key=ADMIN_KEY)
    routes = [
        ("GET", "/memories?user_id=u"),
        ("DELETE", "/memories?user_id=u"),
        ("POST", "/memories"),
        ("POST", "/memories/search"),
        ("GET", "/memories/stats"),
        ("GET", "/memories/export"),
        ("POST", "/memories/import"),
        ("POST", "/memories/flush"),
        ("GET", "/memories/some-id"),
        ("PATCH", "/memories/some-id"),
        ("DELETE", "/memories/some-id"),
        ("GET", "/memories/some-id/history"),
    ]
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_KEY}):
            response = proxy.http.request(method, path, headers=headers)
            error = assert_envelope(response, 401, "invalid_admin_key")
            assert error["type"] == "authentication_error"
            assert response.headers["www-authenticate"] == "Bearer"
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    ok = proxy.http.post("/memories", json={"user_id": "u", "text": FACTS[0]}, headers=admin)
    assert ok.status_code == 201
    assert proxy.http.get("/memories/stats", headers=admin).json()["total"] == 1


def test_chat_never_needs_the_admin_key(make_proxy: ProxyFactory, upstream: FakeUpstream) -> None:
    proxy = make_proxy(admin_key=ADMIN_KEY)
    admin = httpx.Client(base_url=proxy.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    with admin:
        admin.post("/memories", json={"user_id": "vi", "text": "I am allergic to penicillin."})
        raw = ask(proxy, "vi", "Which medicine am I allergic to?")
        assert raw.headers["x-memory-status"] == "injected"
        assert upstream.last_chat().headers["authorization"] == "Bearer sk-test-client"
        assert proxy.http.get("/healthz").status_code == 200
        assert proxy.http.get("/v1/models").status_code == 200


def test_a_warning_at_start_says_when_no_admin_key_is_set(
    make_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="proxy.http.auth"):
        make_proxy(admin_key=ADMIN_KEY)
        assert not [r for r in caplog.records if r.name == "proxy.http.auth"]
        make_proxy()
    (warning,) = [r for r in caplog.records if r.name == "proxy.http.auth"]
    assert warning.levelno == logging.WARNING
    assert "MEMORY_PROXY_ADMIN_KEY" in warning.getMessage()
    assert "loopback" in warning.getMessage()


def test_the_admin_key_setting() -> None:
    assert Settings(admin_key="  ").admin_key is None  # blank is no key, not an empty key
    assert ADMIN_KEY not in repr(Settings(admin_key=ADMIN_KEY))
    for bad in ("two words", "clé"):
        with pytest.raises(ValueError, match="printable ASCII"):
            Settings(admin_key=bad)


def local_non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine that is not loopback, if it has one."""
    candidates: set[str] = set()
    with contextlib.suppress(OSError):
        candidates.update(socket.gethostbyname_ex(socket.gethostname())[2])
    for probe in ("192.0.2.1", "10.255.255.255", "198.51.100.1"):
        # Connecting a UDP socket sends nothing; it only picks the local address a route uses.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((probe, 9))
            except OSError:
                continue
            candidates.add(sock.getsockname()[0])
    for address in sorted(candidates):
        if is_loopback(address) or address == "0.0.0.0":
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((address, 0))
            except OSError:
                continue
        return address
    return None


@pytest.fixture
def remote_proxy(tmp_path: Path, embedder: MiniLMEmbedder, upstream: FakeUpstream) -> Iterator[Any]:
    """Start a proxy on this machine's non-loopback address; requests to it come from there."""
    address = local_non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no non-loopback address (the pure check is tested above)")
    started: list[ServerThread] = []

    def start(**overrides: Any) -> str:
        settings = Settings(
            upstream_url=f"{upstream.url}/v1",  # type: ignore[attr-defined]
            data_dir=tmp_path / f"remote{len(started)}",
            **overrides,
        )
        server = ServerThread(create_app(settings, embedder=embedder), host=address).start()
        started.append(server)
        return server.url

    yield start
    for server in started:
        server.stop()


def test_without_a_key_non_loopback_clients_are_refused(remote_proxy: Any) -> None:
    url = remote_proxy()
    with httpx.Client(base_url=url, timeout=30) as http:
        for response in (
            http.get("/memories", params={"user_id": "u"}),
            http.get("/memories/stats"),
            http.post("/memories", json={"user_id": "u", "text": FACTS[0]}),
            http.post("/memories/flush"),
            # a forwarded-for header naming loopback is not believed
            http.get("/memories/stats", headers={"X-Forwarded-For": "127.0.0.1"}),
            http.get("/memories/stats", headers={"Authorization": "Bearer anything"}),
        ):
            error = assert_envelope(response, 403, "admin_key_not_configured")
            assert error["type"] == "permission_error"
        assert http.get("/healthz").status_code == 200
        chat = http.post(
            "/v1/chat/completions",
            headers={"X-User-Id": "u"},
            json={"model": "m", "messages": [{"role": "user", "content": "hello"}]},
        )
        assert chat.status_code == 200


def test_with_a_key_non_loopback_clients_may_manage_memories(remote_proxy: Any) -> None:
    url = remote_proxy(admin_key=ADMIN_KEY)
    with httpx.Client(base_url=url, timeout=30) as http:
        assert_envelope(http.get("/memories/stats"), 401)
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        assert http.get("/memories/stats", headers=admin).status_code == 200


def test_the_served_proxy_does_not_believe_forwarded_headers(tmp_path: Path) -> None:
    """`memory-proxy serve` itself, even told to trust every forwarder: the TCP peer decides."""
    address = local_non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no non-loopback address (the pure check is tested above)")
    with socket.socket() as sock:
        sock.bind((address, 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "MEMORY_PROXY_ADMIN_KEY"}
    env.update(FORWARDED_ALLOW_IPS="*", LITELLM_LOCAL_MODEL_COST_MAP="True")
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "proxy", "serve", "--host", address, "--port", str(port)]
    command += ["--data-dir", str(tmp_path / "data"), "--log-level", "warning"]
    with log.open("wb") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://{address}:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10, trust_env=False) as http:

            def ready() -> bool:
                assert child.poll() is None, log.read_text()
                try:
                    return http.get("/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(ready, 90)
            spoofed = {"X-Forwarded-For": "127.0.0.1", "Forwarded": "for=127.0.0.1"}
            response = http.get("/memories/stats", headers=spoofed)
            assert_envelope(response, 403, "admin_key_not_configured")
        assert "MEMORY_PROXY_ADMIN_KEY is not set" in log.read_text()
    finally:
        child.terminate()
        child.wait(timeout=60)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.2", False),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1", False),
        ("localhost", False),  # names are not resolved: only the peer address counts
        ("testclient", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_authorization_decision() -> None:
    authorize(None, None, "127.0.0.1")
    authorize(None, "whatever", "::1")
    authorize("k3y", "k3y", "203.0.113.9")
    with pytest.raises(Forbidden):
        authorize(None, None, "203.0.113.9")
    with pytest.raises(Forbidden):
        authorize(None, None, None)
    for token in (None, "", "k3", "k3y ", "K3Y"):
        with pytest.raises(Unauthorized):
            authorize("k3y", token, "127.0.0.1")


def test_the_memory_routes_are_documented(proxy: Proxy) -> None:
    schema = proxy.http.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths) >= {
        "/memories",
        "/memories/search",
        "/memories/stats",
        "/memories/export",
        "/memories/import",
        "/memories/flush",
        "/memories/{memory_id}",
        "/memories/{memory_id}/history",
    }
    assert set(paths["/memories"]) == {"get", "post", "delete"}
    assert set(paths["/memories/{memory_id}"]) == {"get", "patch", "delete"}
    components = schema["components"]
    assert {"CreateMemory", "UpdateMemory", "MemoryOut", "MemoryList", "SearchRequest"} <= set(
        components["schemas"]
    )
    assert "AdminKey" in components["securitySchemes"]
    assert "application/x-ndjson" in paths["/memories/import"]["post"]["requestBody"]["content"]
    assert proxy.http.get("/docs").status_code == 200


def test_metadata_removed_by_an_update_stays_removed_after_a_restart(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    """chromadb merges metadata on upsert: a key the update dropped must be deleted on disk."""
    data_dir = tmp_path / "kept"
    first = make_proxy(data_dir=data_dir)
    memory = create(
        first.http, "mo", "I grow chillies on my balcony.", metadata={"a": "1", "b": "2"}
    )
    changed = first.http.patch(f"/memories/{memory['id']}", json={"metadata": {"a": "1"}})
    assert changed.json()["metadata"] == {"a": "1"}
    first.server.stop()
    again = make_proxy(data_dir=data_dir)
    assert again.http.get(f"/memories/{memory['id']}").json()["metadata"] == {"a": "1"}
