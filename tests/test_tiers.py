"""Tier classification (pure), in English and Chinese: the standing profile vs the episodes, and
standing instructions (kept) vs one-off requests (dropped)."""

from __future__ import annotations

import pytest

from proxy.memory.extract.offline import extract_offline
from proxy.memory.extract.tiers import is_core, is_standing_instruction
from proxy.memory.recall.followup import refers_back


def facts(text: str) -> list[tuple[str, str]]:
    return [(f.text, f.tier) for f in extract_offline(text).facts]


@pytest.mark.parametrize(
    "said",
    [
        "Remember that I like TypeScript and prefer short answers.",
        "Please always answer me in Spanish from now on.",
        "From now on, keep your answers short.",
        "Always answer like a pirate.",
        "In future, call me Sam.",
        "I'm allergic to peanuts.",
        "For the record, I'm vegan.",
        "I live in Lisbon.",
        "I work as a data engineer at Spotify.",
        "My time zone is CET.",
        "I have a severe nut allergy.",
        "I strictly avoid restaurants that serve foods containing gluten.",
        "I prefer luxury hotels over hostels.",
        "I'm training for a marathon in October.",
        "I use a screen reader.",
        "记住我喜欢用 TypeScript，回答简短一点。",
        "以后请一直用西班牙语回答我。",
        "每次都用中文回答我。",
        "我对花生过敏。",
        "我吃素。",
        "我住在杭州西湖区。",
        "我是一名护士。",
        "我不喜欢吃辣。",
    ],
)
def test_standing_statements_are_the_profile(said: str) -> None:
    found = facts(said)
    assert found, f"{said!r} was not kept"
    assert all(tier == "profile" for _, tier in found), found


@pytest.mark.parametrize(
    "said",
    [
        "My order 5521 arrived with a cracked screen and I asked for a replacement.",
        "We settled on flying to Porto on May 3 and staying four nights.",
        "I loved the concert last night!",
        "I have to leave at 5 today.",
        "My sister visited us last weekend.",
        "I went hiking in the Alps in 2019.",
        "我的订单5521收到时屏幕碎了，我申请了换货。",
        "我们定了5月3日飞波尔图，住四晚。",
        "上周我女儿在学校的绘画比赛拿了二等奖。",
        "我昨天去看了牙医。",
    ],
)
def test_episodes_are_episodic(said: str) -> None:
    found = facts(said)
    assert found, f"{said!r} was not kept"
    assert all(tier == "episodic" for _, tier in found), found


@pytest.mark.parametrize(
    "request_text",
    [
        "Translate this into Spanish: good morning.",
        "Please summarize the following text.",
        "Write a poem about the sea.",
        "Answer in French.",  # this answer only: no "always" / "from now on"
        "Can you explain recursion?",
        "Do you always answer in French?",
        "把这段话翻译成英文。",
        "请帮我写一封邮件。",
        "用英文回答这个问题。",
    ],
)
def test_one_off_requests_are_not_stored(request_text: str) -> None:
    assert facts(request_text) == []


@pytest.mark.parametrize(
    ("text", "standing"),
    [
        ("Please always answer me in Spanish from now on.", True),
        ("Going forward, give me code in TypeScript.", True),
        ("Never use emojis when you reply to me.", True),
        ("Could you always answer in French from now on?", True),
        ("以后请一直用西班牙语回答我。", True),
        ("今后回答简短一点。", True),
        ("每次都用中文回答我。", True),
        ("请一直用简体中文。", True),
        ("Translate this into Spanish.", False),
        ("I always go running in the morning.", False),  # a habit, not how to answer
        ("帮我翻译这句话。", False),
    ],
)
def test_standing_instructions(text: str, standing: bool) -> None:
    assert is_standing_instruction(text) is standing


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Hi again, any news on my case?", True),
        ("OK, what did we decide about the dates?", True),
        ("Any update on my refund?", True),
        ("你好，我的事情有进展吗？", True),
        ("上次说的那件事怎么样了？", True),
        ("Explain how TCP congestion control works.", False),
        ("What is the capital of Australia?", False),
        ("今天天气怎么样？", False),
    ],
)
def test_follow_up_cues(message: str, expected: bool) -> None:
    assert refers_back(message) is expected


@pytest.mark.parametrize(
    ("text", "attribute", "core"),
    [
        ("I'm allergic to peanuts.", None, True),
        ("For the record, I'm vegan.", None, True),
        ("Please always answer me in Spanish from now on.", None, True),
        ("From now on keep it short.", None, True),
        ("我对花生过敏。", None, True),
        ("以后请一直用西班牙语回答我。", None, True),
        ("I live in Lisbon.", "residence", True),
        ("I love painting landscapes.", None, False),
        ("I'm so glad we can always be there for each other.", None, False),
        ("My favourite book is Dune.", "favourite:book", False),
        ("我喜欢画画。", None, False),
        ("On another note, I made vegan ice cream last Friday.", None, False),
        ("I got great news: I joined a gym last week!", "employer", False),
        ("I can't eat gluten.", None, True),
        ("Maybe I'll get a pet if I can find one I'm not allergic to.", None, False),
    ],
)
def test_the_core_of_a_profile(text: str, attribute: str | None, core: bool) -> None:
    assert is_core(text, attribute) is core
