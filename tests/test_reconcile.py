"""The write policy and the tier composition, as pure functions: no chromadb, no model."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from proxy.core.inject import line_cost
from proxy.core.records import Hit, Memory
from proxy.core.scope import Scope
from proxy.memory.extract.offline import classified
from proxy.memory.recall.compose import Budgets, compose
from proxy.memory.reconcile import reconcile

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SCOPE = Scope("u")


def stored(text: str, days_ago: float = 10, **fields) -> Memory:
    fact = classified(text, fields.pop("kind", "fact"))
    when = NOW - timedelta(days=days_ago)
    return Memory(
        id=fields.pop("id", text[:12]),
        text=text,
        scope=SCOPE,
        created_at=when,
        occurred_at=when,
        kind=fact.kind,
        tier=fact.tier,
        attribute=fact.attribute,
        **fields,
    )


def change(text: str, nearest=None, same=(), occurred_at=None):
    return reconcile(
        classified(text, "fact"),
        scope=SCOPE,
        new_id="new",
        nearest=nearest,
        same_attribute=list(same),
        dedup_similarity=0.92,
        now=NOW,
        occurred_at=occurred_at,
        source="turn-1",
        extractor="offline",
        expires_at=None,
    )


def test_a_new_fact_is_added_with_its_tier_and_attribute() -> None:
    result = change("I live in Lisbon.")
    assert result.added and result.memory.id == "new"
    assert result.memory.tier == "profile" and result.memory.attribute == "residence"
    assert [e.event for e in result.events] == ["ADD"]


def test_a_near_duplicate_updates_in_place() -> None:
    old = stored("I live in Lisbon now.")
    result = change("I live in Lisbon.", nearest=(old, 0.95))
    assert not result.added and result.memory.id == old.id
    assert result.memory.text == "I live in Lisbon." and result.memory.created_at == old.created_at
    assert [(e.event, e.old_text) for e in result.events] == [("UPDATE", "I live in Lisbon now.")]
    assert change("I live in Lisbon.", nearest=(old, 0.5)).added  # not close enough: a new one


def test_a_newer_statement_of_an_attribute_supersedes_the_older() -> None:
    old = stored("I live in Berlin.")
    result = change("I live in Madrid.", same=[old])
    (superseded,) = result.superseded
    assert superseded.id == old.id and superseded.status == "superseded"
    assert superseded.superseded_by == "new" and result.memory.status == "active"
    assert [e.event for e in result.events] == ["ADD", "SUPERSEDE"]


def test_an_older_statement_imported_late_does_not_win() -> None:
    newer = stored("I live in Madrid.", days_ago=1)
    result = change("I live in Berlin.", same=[newer], occurred_at=NOW - timedelta(days=30))
    assert result.superseded == ()
    assert result.memory.status == "superseded" and result.memory.superseded_by == newer.id


def test_a_future_time_is_stored_as_now_and_cannot_lock_an_attribute() -> None:
    ahead = stored("I live in Paris.", days_ago=-300)  # stored by an older version
    result = change("I live in Berlin.", same=[ahead], occurred_at=NOW + timedelta(hours=20))
    assert result.memory.occurred_at == NOW
    assert [m.id for m in result.superseded] == [ahead.id]


def _hit(memory: Memory) -> Hit:
    return Hit(memory=memory, score=1.0, similarity=0.5)


def test_a_profile_that_fits_is_injected_whole_whatever_the_question() -> None:
    profile = [
        (stored(f"I prefer option {i}.", kind="preference", id=f"p{i}"), 0.0) for i in range(5)
    ]
    hits = [_hit(stored("I went to Rome in May.", id="e1"))]
    chosen = compose(
        profile=profile,
        session=[],
        recent=[],
        hits=hits,
        budgets=Budgets(total=500, profile=300, session=100, recent=100),
        cost=line_cost,
    )
    assert [m.id for m in chosen.profile] == ["p0", "p1", "p2", "p3", "p4"]
    assert [m.id for m in chosen.relevant] == ["e1"]


def test_a_profile_over_its_share_keeps_the_relevant_and_the_similar_items() -> None:
    # 8 lines of ~16 tokens in a share of 100: over it, but under twice it.
    profile = [
        (stored(f"I prefer colour scheme number {i} for my apps.", id=f"p{i}"), i / 100)
        for i in range(8)
    ]
    relevant = profile[1][0]
    chosen = compose(
        profile=profile,
        session=[],
        recent=[],
        hits=[_hit(relevant)],
        budgets=Budgets(total=300, profile=100, session=50, recent=50),
        cost=line_cost,
    )
    ids = [m.id for m in chosen.profile]
    assert "p1" in ids and "p7" in ids and "p0" not in ids  # relevant first, then most similar
    assert sum(line_cost(m, True) for m in chosen.profile) <= 100
    assert ids == sorted(ids, key=lambda i: int(i[1:]))  # shown in a stable order
    assert chosen.relevant == []  # no memory twice


def test_a_profile_far_over_its_share_keeps_its_core_and_ranks_the_rest_as_relevant() -> None:
    likes = [
        (stored(f"I love painting landscape number {i}.", id=f"p{i}"), i / 100) for i in range(60)
    ]
    allergy = stored("I'm allergic to peanuts.", kind="constraint", id="allergy")
    lives = replace(stored("I live in Lisbon.", id="home"), attribute="residence")
    profile = [*likes, (allergy, 0.0), (lives, 0.0)]
    relevant = likes[3][0]
    chosen = compose(
        profile=profile,
        session=[],
        recent=[],
        hits=[_hit(relevant)],
        budgets=Budgets(total=300, profile=100, session=50, recent=50),
        cost=line_cost,
    )
    # The core reaches every request; of the likes, only what retrieval found, as relevant.
    assert [m.id for m in chosen.profile] == ["allergy", "home"]
    assert [m.id for m in chosen.relevant] == ["p3"]


def test_a_block_s_frame_is_paid_only_once_it_holds_a_line() -> None:
    episode = stored("I went to Rome in May.", id="e1")
    cost = line_cost(episode, False)
    budgets = Budgets(total=cost + 20, profile=100, session=50, recent=50, dated_frame=20)
    chosen = compose(
        profile=[], session=[], recent=[], hits=[_hit(episode)], budgets=budgets, cost=line_cost
    )
    assert [m.id for m in chosen.relevant] == ["e1"]  # no profile: its frame costs nothing
    tight = replace(budgets, total=cost + 19)
    chosen = compose(
        profile=[], session=[], recent=[], hits=[_hit(episode)], budgets=tight, cost=line_cost
    )
    assert chosen.relevant == []


def test_no_memory_twice_and_each_tier_within_its_share() -> None:
    episode = stored("My order 5521 arrived broken.", days_ago=0.1, id="e1")
    other = stored("I booked the dentist for Friday.", days_ago=0.2, id="e2")
    chosen = compose(
        profile=[],
        session=[episode],
        recent=[episode, other],
        hits=[_hit(other), _hit(episode)],
        budgets=Budgets(total=400, profile=100, session=200, recent=200),
        cost=line_cost,
    )
    assert [m.id for m in chosen.session] == ["e1"]
    assert [m.id for m in chosen.recent] == ["e2"]
    assert chosen.relevant == []
    tight = compose(
        profile=[],
        session=[],
        recent=[episode, other],
        hits=[],
        budgets=Budgets(total=400, profile=100, session=100, recent=line_cost(episode, False)),
        cost=line_cost,
    )
    assert [m.id for m in tight.recent] == ["e1"]
