"""Erased text leaves the disk (issue 14, item 6): after `DELETE /memories?user_id=...` answers,
no file of the data dir (chromadb's SQLite file and vector segments, the history and outbox
databases and their WALs) holds the user's words; nor, shortly after, does any file hold a turn
that never became a memory. Every file is read as bytes, as `grep -r` would."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ProxyFactory, wait_until

# Made-up words: found on disk only if the proxy kept them.
ERASED = ["Quibbleflux", "Snorkelwhump", "Glimmerbrack", "Trundlewick", "Plonkavar"]
KEPT = "Wobblefroth"
ASKED = "Frimbleton"


def files_holding(data_dir: Path, word: str) -> list[str]:
    needle = word.encode()
    return sorted(
        str(path.relative_to(data_dir))
        for path in data_dir.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    )


def test_an_erase_leaves_no_text_in_any_file(make_proxy: ProxyFactory, tmp_path: Path) -> None:
    data = tmp_path / "erase-data"
    proxy = make_proxy(data_dir=data)
    proxy.tell("erin", f"I grow {ERASED[0]} orchids in my greenhouse.")
    proxy.tell("erin", f"My cat is called {ERASED[1]}.", **{"X-Session-Id": "s1"})
    created = proxy.http.post(
        "/memories",
        json={
            "user_id": "erin",
            "text": f"I collect {ERASED[2]} stamps.",
            "metadata": {"note": ERASED[3]},
        },
    ).json()["added"][0]
    # History keeps old texts: an update, and a memory deleted on its own before the erase.
    proxy.http.patch(f"/memories/{created['id']}", json={"text": "I collect old stamps."})
    doomed = proxy.http.post(
        "/memories", json={"user_id": "erin", "text": f"I sail a boat named {ERASED[4]}."}
    ).json()["added"][0]
    proxy.http.delete(f"/memories/{doomed['id']}")
    proxy.tell("other", f"I keep a parrot named {KEPT}.")
    for word in ERASED:
        assert files_holding(data, word), word  # the test can see text on disk at all

    erased = proxy.http.delete("/memories", params={"user_id": "erin"})
    assert erased.status_code == 200 and erased.json()["deleted"] == 3
    for word in ERASED:
        assert files_holding(data, word) == [], word
    assert "chroma/chroma.sqlite3" in files_holding(data, KEPT)  # another user's stays
    assert [m["text"] for m in proxy.memories("other")] == [f"I keep a parrot named {KEPT}."]
    # The store still works after its file was rebuilt.
    proxy.tell("erin", "I moved to Porto.")
    assert [m["text"] for m in proxy.memories("erin")] == ["I moved to Porto."]


def test_a_turn_that_never_became_a_memory_leaves_the_disk(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    data = tmp_path / "question-data"
    proxy = make_proxy(data_dir=data)
    proxy.tell("quinn", f"Is {ASKED} a real town in Wales?")  # a question: nothing to remember
    assert proxy.memories("quinn") == []
    # The outbox row is deleted and its WAL cut once the queue has drained (within a second).
    wait_until(lambda: files_holding(data, ASKED) == [], timeout=10)


def test_a_secret_never_reaches_any_file(make_proxy: ProxyFactory, tmp_path: Path) -> None:
    """Redaction happens before the outbox: right after the answer (the turn is in the outbox
    now) and after it was processed, no file holds the password."""
    data = tmp_path / "secret-data"
    proxy = make_proxy(data_dir=data)
    client = proxy.client("rita")
    for text in ("Мой пароль — Zorkij2024, я живу в Казани.", "mein Passwort ist Kuckuck2024!"):
        client.chat.completions.create(
            model="gpt-fake", messages=[{"role": "user", "content": text}]
        )
        assert files_holding(data, "Zorkij2024") == []
        assert files_holding(data, "Kuckuck2024") == []
    proxy.flush()
    assert files_holding(data, "Zorkij2024") == files_holding(data, "Kuckuck2024") == []


def test_contacts_are_kept_out_unless_configured(make_proxy: ProxyFactory, tmp_path: Path) -> None:
    default = make_proxy(data_dir=tmp_path / "a")
    default.tell("sam", "I work as a baker and my email is sam.baker@example.com.")
    assert all("example.com" not in m["text"] for m in default.memories("sam"))
    assert files_holding(tmp_path / "a", "sam.baker@example.com") == []
    keeping = make_proxy(data_dir=tmp_path / "b", write={"redact_contacts": False})
    keeping.tell("sam", "My email is sam.baker@example.com.")
    assert [m["text"] for m in keeping.memories("sam")] == ["My email is sam.baker@example.com."]
