"""Offline (rule-based) fact extraction: what is kept, what is dropped, and with which kind."""

from __future__ import annotations

import dataclasses
import time

import pytest

from proxy.memory.extract.offline import MAX_FACT_CHARS, Extraction, Fact, extract_offline


def pairs(text: str) -> list[tuple[str, str]]:
    return [(f.text, f.kind) for f in extract_offline(text).facts]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I'm vegan.", "constraint"),
        ("I'm allergic to peanuts.", "constraint"),
        ("I will never eat sushi again.", "constraint"),
        ("I have to finish my thesis by Friday.", "constraint"),
        ("I love hiking in the mountains.", "preference"),
        ("I hate cilantro.", "preference"),
        ("My favorite color is blue.", "preference"),
        ("I can't stand loud music.", "preference"),
        ("I'd rather take the train.", "preference"),
        ("I'm going to Japan next spring.", "plan"),
        ("We plan to buy a house.", "plan"),
        ("I'll visit my parents tomorrow.", "plan"),
        ("I moved to Lisbon last month.", "event"),
        ("We adopted a puppy last week.", "event"),
        ("I got a new job at Google.", "event"),
        ("I work as a nurse in Porto.", "fact"),
        ("My name is Clara.", "fact"),
        ("I've got two kids.", "fact"),
        ("My sister lives in Berlin.", "fact"),
        ("When I was 10, I lived in Ohio.", "fact"),  # a wh-word that opens a statement
        ("What I love most is hiking.", "preference"),
        # No first person, but concrete content: kept for recall.
        ("The conference is on May 3 in Lisbon.", "fact"),
        ("Marta loves pottery.", "preference"),
        ("Allergic to shellfish.", "constraint"),
    ],
)
def test_english_statements_are_kept_verbatim_with_their_kind(text: str, kind: str) -> None:
    assert pairs(text) == [(text, kind)]


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("Hi, I moved to Berlin in 2020.", "I moved to Berlin in 2020."),
        ("Oh, I have a cat named Miso.", "I have a cat named Miso."),
        ("对了，我养了一只猫。", "我养了一只猫。"),
    ],
)
def test_leading_interjections_are_trimmed(text: str, fact: str) -> None:
    assert [f.text for f in extract_offline(text).facts] == [fact]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("我叫小明。", "fact"),
        ("我在腾讯工作。", "fact"),
        ("我爱人在北京工作。", "fact"),  # 爱人 (spouse) is not 爱 (love)
        ("我什么都吃。", "fact"),  # 什么都 is not a question
        ("我喜欢吃辣。", "preference"),
        ("我最喜欢的电影是《霸王别姬》。", "preference"),
        ("我对花生过敏。", "constraint"),
        ("我是素食者。", "constraint"),
        ("我从来不喝酒。", "constraint"),
        ("我下周要去上海出差。", "plan"),
        ("我打算明年去日本留学。", "plan"),
        ("我上个月搬到了杭州。", "event"),
        ("我去年去了巴黎。", "event"),
        ("会议在5月3日于里斯本举行。", "fact"),
        ("小明喜欢打篮球。", "preference"),
    ],
)
def test_chinese_statements_are_kept_verbatim_with_their_kind(text: str, kind: str) -> None:
    assert pairs(text) == [(text, kind)]


@pytest.mark.parametrize(
    "text",
    [
        # questions
        "What's the weather like in Paris?",
        "How do I fix this",
        "Do you know any good restaurants",
        "Is it going to rain tomorrow",
        "Can you recommend a café near me?",
        "你能帮我写一首诗吗？",
        "你觉得呢",
        "为什么天是蓝的",
        "这个怎么用",
        # greetings, thanks, acknowledgements, fillers
        "hi",
        "Hello!",
        "Thanks so much!",
        "ok",
        "cool",
        "lol",
        "sure",
        "Good morning! I hope you had a nice weekend.",
        "你好！",
        "谢谢！",
        "好的",
        "哈哈哈",
        # pure reactions
        "That's awesome!",
        "Wow, so cool!",
        "That sounds like a great idea!",
        "I'm so happy for you!",
        "Marta: Wow! That is amazing, Clara!",  # a vocative name is not content
        "太棒了！",
        "我也这么觉得",
        # requests and instructions
        "Write me a poem about cats.",
        "Translate this into French.",
        "Please summarise the article.",
        "Let me know what you think.",
        "I need you to write a cover letter.",
        "帮我写一封邮件",
        "请翻译这段话",
        # hypotheticals
        "If I were a bird, I would fly to Spain.",
        "Imagine you are a pirate captain.",
        "Suppose I had a million dollars.",
        "What if I moved to Mars",
        "假如我是总统，我会减税。",
        # jokes and role-play
        "lol I'm the queen of England",
        "I'm 90 years old, just kidding.",
        "Pretend you are my grandma.",
        "Let's role-play a job interview.",
        "开玩笑的，我是外星人。",
        # fragments
        "Love hiking.",
        "Me too!",
        "我也是",
        # secrets
        "My API key is [REDACTED:openai_key], keep it safe.",
        "我的密码是[REDACTED:password]。",
    ],
)
def test_non_memories_are_dropped(text: str) -> None:
    assert extract_offline(text) == Extraction(facts=(), forget=())


@pytest.mark.parametrize(
    ("text", "fact", "kind"),
    [
        ("Remember that I'm allergic to peanuts", "I'm allergic to peanuts", "constraint"),
        ("Please remember my wife's name is Ana.", "my wife's name is Ana.", "fact"),
        ("Can you remember that my birthday is May 3?", "my birthday is May 3", "fact"),
        ("Remember: I'm vegan.", "I'm vegan.", "constraint"),  # explicit: kept though short
        ("Don't forget that my mom visits on Friday.", "my mom visits on Friday.", "fact"),
        ("记住：我对花生过敏。", "我对花生过敏。", "constraint"),
        ("请记住：我每周三去健身房。", "我每周三去健身房。", "fact"),
        ("请记住我的生日是5月3日", "我的生日是5月3日", "fact"),
    ],
)
def test_remember_commands_keep_the_statement(text: str, fact: str, kind: str) -> None:
    assert extract_offline(text) == Extraction(facts=(Fact(fact, kind),), forget=())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("Forget that I live in Paris.", "I live in Paris"),
        ("forget about my old job please", "my old job"),
        ("Please forget my old address.", "my old address"),
        ("Could you forget that I smoke?", "I smoke"),
        ("Forget what I said about my sister.", "my sister"),
        ("Also, please forget that I work at Acme.", "I work at Acme"),
        ("忘掉我住在北京这件事", "我住在北京"),
        ("忘记我的旧地址。", "我的旧地址"),
        ("别记得我抽烟", "我抽烟"),
        ("请把我住在上海的事忘掉", "我住在上海"),
    ],
)
def test_forget_commands_give_a_target_and_no_fact(text: str, target: str) -> None:
    assert extract_offline(text) == Extraction(facts=(), forget=(target,))


@pytest.mark.parametrize(
    "text", ["Forget it.", "Forget about it!", "Don't forget to buy milk.", "Remember when we met?"]
)
def test_phrases_that_only_look_like_commands_do_nothing(text: str) -> None:
    assert extract_offline(text) == Extraction(facts=(), forget=())


def test_mixed_message_keeps_only_the_statement() -> None:
    text = "Hi! I moved to Lisbon last month. Can you recommend cafés?"
    assert extract_offline(text) == Extraction(
        facts=(Fact("I moved to Lisbon last month.", "event"),), forget=()
    )


def test_forget_and_fact_in_one_message() -> None:
    got = extract_offline("Forget that I live in Paris. I live in Berlin now.")
    assert got.forget == ("I live in Paris",)
    assert pairs("Forget that I live in Paris. I live in Berlin now.") == [
        ("I live in Berlin now.", "fact")
    ]


def test_speaker_label_is_kept_on_every_fact() -> None:
    text = (
        "Clara: I went to the choir rehearsal yesterday. It was really powerful. "
        "What do you think? I'm planning to learn the cello next year."
    )
    assert pairs(text) == [
        ("Clara: I went to the choir rehearsal yesterday.", "event"),
        ("Clara: I'm planning to learn the cello next year.", "plan"),
    ]


def test_speaker_label_follows_a_transcript() -> None:
    text = "Clara: Hi!\nMarta: I painted the harbour at dawn last year."
    assert pairs(text) == [("Marta: I painted the harbour at dawn last year.", "event")]


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("Note: I'm vegetarian.", "I'm vegetarian."),  # a heading, not a speaker
        ("PS: I'm flying to Rome on Monday.", "PS: I'm flying to Rome on Monday."),
        ("I said: I live in Oslo.", "I said: I live in Oslo."),  # not at the very start
    ],
)
def test_headings_are_not_speaker_labels(text: str, fact: str) -> None:
    assert [f.text for f in extract_offline(text).facts] == [fact]


def test_long_message_with_several_facts() -> None:
    text = (
        "Hey! So, a few things about me. My name is Tom and I'm 34 years old. "
        "I live in Porto with my wife Ana and our two kids. I work as a software engineer at "
        "a startup. I'm lactose intolerant. We're going to Japan next April! "
        "Anyway, what's a good itinerary for two weeks? Thanks!\n"
        "我喜欢喝茶。"
    )
    assert pairs(text) == [
        ("My name is Tom and I'm 34 years old.", "fact"),
        ("I live in Porto with my wife Ana and our two kids.", "fact"),
        ("I work as a software engineer at a startup.", "fact"),
        ("I'm lactose intolerant.", "constraint"),
        ("We're going to Japan next April!", "plan"),
        ("我喜欢喝茶。", "preference"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I ran 3.5 km today. It felt great.", ["I ran 3.5 km today."]),
        ("I'm seeing Dr. Lee on Friday.", ["I'm seeing Dr. Lee on Friday."]),
        ("I like fruit, e.g. apples and pears.", ["I like fruit, e.g. apples and pears."]),
        (
            "I live in the U.S. We moved here in 2019.",
            ["I live in the U.S.", "We moved here in 2019."],
        ),
        (
            "I blog at example.com. I write about cooking.",
            ["I blog at example.com.", "I write about cooking."],
        ),
        ("我喜欢猫！我养了两只。你呢？", ["我喜欢猫！", "我养了两只。"]),
        ("我住在上海；我在银行工作", ["我住在上海；", "我在银行工作"]),
        (
            "1. I live in Porto.\n2. I have a cat.\n- I prefer tea.",
            ["I live in Porto.", "I have a cat.", "I prefer tea."],
        ),
    ],
)
def test_sentence_splitting(text: str, expected: list[str]) -> None:
    assert [f.text for f in extract_offline(text).facts] == expected


def test_only_the_redacted_sentence_is_dropped() -> None:
    text = "My password is [REDACTED:password]. I use a Mac at work."
    assert pairs(text) == [("I use a Mac at work.", "fact")]


def test_remembering_a_secret_is_refused() -> None:
    assert extract_offline("Remember that my key is [REDACTED:openai_key].").facts == ()


def test_a_retraction_drops_the_joke_before_it() -> None:
    assert pairs("I live in Oslo. I'm the queen of England. Just kidding!") == [
        ("I live in Oslo.", "fact")
    ]
    assert pairs("我是英国女王。开玩笑的！") == []


def test_pasted_code_is_ignored() -> None:
    text = "```python\nx = 3.5  # I love this\nprint('I live here')\n```\nI use vim every day."
    assert pairs(text) == [("I use vim every day.", "fact")]


def test_repeated_statements_are_kept_once() -> None:
    assert pairs("I love tea. I love tea.") == [("I love tea.", "preference")]


def test_long_sentences_are_capped() -> None:
    text = "I love " + ", ".join(f"city number {i}" for i in range(100)) + "."
    (fact,) = extract_offline(text).facts
    assert len(fact.text) <= MAX_FACT_CHARS
    assert fact.text.startswith("I love city number 0, city number 1")
    assert fact.text.endswith("…")


def test_capped_fact_keeps_its_speaker_label_within_the_limit() -> None:
    text = "Clara: I love " + ", ".join(f"city number {i}" for i in range(100)) + "."
    (fact,) = extract_offline(text).facts
    assert fact.text.startswith("Clara: I love")
    assert len(fact.text) <= MAX_FACT_CHARS


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n"])
def test_empty_input_gives_nothing(text: str) -> None:
    assert extract_offline(text) == Extraction(facts=(), forget=())


def test_results_are_immutable() -> None:
    got = extract_offline("I love tea.")
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.facts[0].text = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    "text",
    [
        "好" + "嗯" * 40 + "猫",
        "嗯 " * 500 + "x",
        "哈" * 500 + "?",
        "你" * 2000 + "吧x",
        "hi, " * 500,
    ],
)
def test_pathological_input_does_not_backtrack(text: str) -> None:
    start = time.perf_counter()
    extract_offline(text)
    assert time.perf_counter() - start < 0.05


def test_a_long_message_is_fast() -> None:
    text = (
        "Hi! I moved to Lisbon last month with my wife Ana. We rented a flat near the river. "
        "Can you recommend cafés? I'm vegetarian and allergic to nuts. 我下周要去上海出差。"
    ) * 12
    text = text[:2000]
    extract_offline(text)  # warm up
    start = time.perf_counter()
    for _ in range(20):
        got = extract_offline(text)
    per_call = (time.perf_counter() - start) / 20
    assert got.facts  # really did the work
    assert per_call < 0.02, f"{per_call * 1000:.2f} ms per 2,000-character message"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "I adopted a dog. She is called Luna and she loves the beach.",
            ["I adopted a dog. She is called Luna and she loves the beach."],
        ),
        (
            "Clara: I went to a choir rehearsal yesterday. It really opened my eyes.",
            ["Clara: I went to a choir rehearsal yesterday. It really opened my eyes."],
        ),
        ("I moved to Lisbon. I love sushi.", ["I moved to Lisbon.", "I love sushi."]),
    ],
)
def test_a_sentence_opening_with_an_anaphor_stays_with_its_antecedent(
    text: str, expected: list[str]
) -> None:
    assert [f.text for f in extract_offline(text).facts] == expected
