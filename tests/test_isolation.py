"""Isolation under load (a small run of bench/isolation.py): users talking at once never see,
in any retrieval or listing, a fact of another user."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench.isolation import echo_memories, make_facts, run_isolation
from testbed.fake_upstream import FakeUpstream
from tests.conftest import ProxyFactory


def test_the_facts_are_unique_and_attributed() -> None:
    facts = make_facts(users=5, turns=30, seed=3)
    assert len(facts.owner) == 150  # every made-up name once
    assert all(len(names) == 30 for names in facts.by_user.values())
    assert all(name in facts.text[name] for name in facts.owner)


@pytest.mark.timeout(180)
def test_ten_users_ten_turns_at_once_no_leak(
    make_proxy: ProxyFactory, upstream: FakeUpstream, figures: dict[str, dict[str, Any]]
) -> None:
    upstream.reply = echo_memories
    proxy = make_proxy()
    report = asyncio.run(run_isolation(proxy.url, users=10, turns=10, seed=7, concurrency=20))
    figures["isolation (10 users x 10 turns)"] = {
        "retrievals_checked": report.retrievals_checked,
        "memories_injected": report.memories_injected,
        "listings_checked": report.listings_checked,
        "leaks": report.leaks,
    }
    assert report.failed_requests == 0
    assert report.chats == 10 * 10 * 3  # tell, ask about its own fact, ask about another's
    assert report.retrievals_checked == report.chats
    assert report.leaks == 0, report.leak_examples
    # The check is not vacuous: the users' own facts do come back, in blocks and listings.
    assert report.memories_injected > 100
    assert report.own_facts_recalled >= 0.9 * report.own_facts_asked
    assert report.memories_listed == 100
