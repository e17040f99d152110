"""Chinese and cross-lingual relevance (issue 18), end to end with the official SDK: events told
in one language are found by paraphrased questions in the same or the other language, and a
question about the world gets none of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from testbed.fake_upstream import FakeUpstream
from tests.conftest import Proxy, ProxyFactory

# A user who tells things in Chinese and in English, a month or more ago (not "recent").
EVENTS = [
    "我女儿在学校的绘画比赛拿了二等奖。",
    "我爸爸做了膝盖手术，恢复得不错。",
    "上个月我的手机掉进水里坏了，换了一台新的。",
    "我们去云南旅行了一周，住在大理古城。",
    "我家的猫生了三只小猫。",
    "我在公司升职成了部门经理。",
    "我报名参加了周末的烘焙课，学会了做面包。",
    "我的车在停车场被人刮花了。",
    "我和老公去看了一场周杰伦的演唱会。",
    "我儿子数学考试考了满分。",
    "I migrated our CI pipeline from Jenkins to GitHub Actions.",
    "I passed the AWS solutions architect exam.",
    "I adopted a rescue greyhound called Biscuit.",
    "I sprained my ankle skiing in the Alps.",
    "I finished reading Designing Data-Intensive Applications over the holidays.",
]
# (question, words of the event that must reach the model): no content word shared.
FOUND = [
    ("孩子最近有没有获得什么荣誉？", "绘画比赛"),
    ("我父亲的腿怎样了？", "膝盖手术"),
    ("宠物那边有啥新情况？", "小猫"),
    ("What happened to my phone?", "手机掉进水里"),
    ("Did my son do well at school?", "数学考试"),
    ("持续集成流水线换成了啥工具？", "GitHub Actions"),
    ("领养的狗叫什么名字？", "Biscuit"),
    ("滑雪的时候受过伤吗？", "sprained my ankle"),
]
UNRELATED = [
    "今天天气怎么样？",
    "光速是多少？",
    "帮我写一首关于春天的诗。",
    "What is the capital of Australia?",
    "Explain how photosynthesis works.",
]


def _tell_all(proxy: Proxy, user: str) -> None:
    client = proxy.client(user, **{"X-Memory-Mode": "write-only"})
    for days, text in enumerate(EVENTS, start=30):
        when = (datetime.now(UTC) - timedelta(days=days)).isoformat()
        client.chat.completions.create(
            model="gpt-fake",
            messages=[{"role": "user", "content": text}],
            extra_headers={"X-Memory-Time": when},
        )
    proxy.flush()


def _ask(proxy: Proxy, upstream: FakeUpstream, user: str, question: str) -> str:
    proxy.client(user, **{"X-Memory-Mode": "read-only"}).chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": question}]
    )
    return upstream.last_chat().memory_text()


def _events_in(block: str) -> int:
    return sum(1 for event in EVENTS if event in block)


@pytest.fixture
def mixed(make_proxy: ProxyFactory) -> Proxy:
    proxy = make_proxy()
    _tell_all(proxy, "mei")
    assert len(proxy.memories("mei")) == len(EVENTS)  # distinct events are not merged
    return proxy


def test_paraphrased_questions_find_their_event_in_either_language(
    mixed: Proxy, upstream: FakeUpstream
) -> None:
    for question, expected in FOUND:
        block = _ask(mixed, upstream, "mei", question)
        assert expected in block, f"{question!r} did not get {expected!r}"
        assert _events_in(block) <= len(EVENTS) // 4  # a narrow question: a few, not the store


def test_a_question_about_the_world_gets_none_of_the_events(
    mixed: Proxy, upstream: FakeUpstream
) -> None:
    for question in UNRELATED:
        assert _events_in(_ask(mixed, upstream, "mei", question)) == 0, question


def test_an_english_user_stays_on_the_english_model(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    """Without any text that needs it, the multilingual model is never loaded or used."""
    proxy = make_proxy()
    proxy.tell("eng", "I adopted a rescue greyhound called Biscuit.")
    assert "Biscuit" in _ask(proxy, upstream, "eng", "What is my greyhound Biscuit called?")
    assert proxy.http.get("/healthz").json()["memory"]["multilingual"] == "idle"


def test_with_multilingual_off_chinese_still_finds_by_keywords(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(multilingual="off")
    assert proxy.http.get("/healthz").json()["memory"]["multilingual"] == "off"
    proxy.tell("li", "我喜欢喝乌龙茶，不喜欢咖啡。")
    assert "乌龙茶" in _ask(proxy, upstream, "li", "我喜欢喝什么茶？")
