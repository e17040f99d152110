"""The eval's pure parts: case parsing, rule scoring, the judge's verdict, figures, report, arms,
and the PrefEval / LoCoMo adapters (on small files written here in those formats)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxy.core.errors import EvalError, JudgeParseError
from proxy.eval.adapters.locomo import locomo_cases
from proxy.eval.adapters.prefeval import prefeval_cases
from proxy.eval.arms import SETUP_CONTEXT, Arm, parse_arms, probe_messages, setup_plan
from proxy.eval.cases import Case, dump_cases, parse_cases
from proxy.eval.report import build_report, render_markdown, render_table
from proxy.eval.results import ProbeResult
from proxy.eval.rubric import judge_messages, parse_verdict
from proxy.eval.scoring import Outcome, abstains, figures, keyword_in, percentile, rule_verdict

SEED = Path(__file__).resolve().parents[1] / "config" / "eval" / "seed.jsonl"


def case(**fields: object) -> Case:
    base: dict[str, object] = {"id": "c", "probes": [{"question": "q?", "expect": ["x"]}]}
    return Case.model_validate(base | fields)


def test_seed_parses_and_round_trips() -> None:
    cases = parse_cases(SEED.read_text().splitlines(), "seed")
    assert [c.id for c in cases] == ["dana-moves", "sam-prefs", "alex-dog", "bea-no-leak"]
    assert parse_cases(dump_cases(cases).splitlines()) == cases


def test_shorthands_and_defaults() -> None:
    parsed = case(
        setup=[{"time": "2024-03-01", "turns": ["hi", {"role": "assistant", "content": "yo"}]}],
        probes=[
            {"question": "a?", "expect": ["Lisbon", ["vegan", "vegetarian"]], "forbid": ["Rome"]},
            {"question": "b?", "expect": "the reference answer"},
        ],
    )
    assert parsed.owner == "c"
    assert [p.id for p in parsed.probes] == ["p1", "p2"]
    assert parsed.setup[0].time is not None and parsed.setup[0].time.isoformat() == (
        "2024-03-01T00:00:00+00:00"
    )
    assert parsed.setup[0].user_turns == ["hi"]
    assert parsed.probes[0].forbid.keywords == ["Rome"]
    assert parsed.probes[1].expect.reference == "the reference answer"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 1: not valid JSON"),
        ('{"id": "a", "probes": []}', "line 1: probes: List should have at least 1 item"),
        ('{"id": "a", "probes": [{"question": "q", "expect": {}}]}', "expect needs keywords"),
        ('{"id": "a", "probes": [{"question": "q", "expect": {"regex": ["("]}}]}', "regular"),
        ('{"id": " a", "probes": [{"question": "q", "expect": ["x"]}]}', "id: must be printable"),
        ('{"id": "a", "probes": [{"question": "q", "expect": ["x"]}], "extra": 1}', "extra"),
        (
            '{"id": "a", "probes": [{"id": "x", "question": "q", "expect": ["x"]},'
            ' {"id": "x", "question": "r", "expect": ["y"]}]}',
            "probe id 'x' appears twice",
        ),
    ],
)
def test_bad_cases_name_the_line_and_the_problem(line: str, message: str) -> None:
    with pytest.raises(EvalError, match="line 1") as raised:
        parse_cases([line], "cases.jsonl")
    assert message in str(raised.value)


def test_a_repeated_case_id_and_an_empty_file_are_refused() -> None:
    line = '{"id": "a", "probes": [{"question": "q", "expect": ["x"]}]}'
    with pytest.raises(EvalError, match="line 3: case id 'a' already used on line 1"):
        parse_cases([line, "", line])
    with pytest.raises(EvalError, match="no cases"):
        parse_cases(["", "  "])


def test_keywords_match_whole_words_and_cjk_inside_text() -> None:
    assert keyword_in("Rome", "I'd go to ROME.")
    assert not keyword_in("Rome", "Romeo and Juliet")
    assert keyword_in("data engineer", "a data\n engineer at Spotify")
    assert keyword_in("中文", "我喜欢用中文回答问题")
    assert keyword_in("don't", "I don\u2019t")


@pytest.mark.parametrize(
    "answer",
    ["I don't know.", "I do not have any information about that.", "That was not mentioned.", ""],
)
def test_abstentions_are_recognised(answer: str) -> None:
    assert abstains(answer)


def test_rules_verdicts() -> None:
    parsed = case(
        probes=[
            {"question": "city?", "expect": ["Lisbon"], "forbid": ["Berlin"]},
            {"question": "dog?", "expect": {"abstain": True}, "forbid": {"claims": ["dog Rex"]}},
            {"question": "when?", "expect": "7 May 2023"},
            {"question": "re?", "expect": {"regex": [r"\b\d{4}\b"]}},
        ]
    )
    city, dog, when, regex = parsed.probes
    assert rule_verdict(city, "You live in Lisbon.").success
    moved = rule_verdict(city, "Lisbon, before that Berlin.")
    assert moved.met and not moved.success and moved.forbidden == ["Berlin"]
    assert rule_verdict(city, "I don't know.").missing == ["Lisbon"]
    assert rule_verdict(dog, "I don't know your dog's name.").success
    assert rule_verdict(dog, "Your dog is Rex.").hallucinated
    assert rule_verdict(when, "It was on 7 May 2023.").success
    assert not rule_verdict(when, "Sometime in 2022.").success
    assert rule_verdict(regex, "In 2024.").success


def test_judge_messages_and_verdicts() -> None:
    probe = case().probes[0]
    system, user = judge_messages(probe, "the answer")
    assert system["role"] == "system" and "correct" in system["content"]
    assert json.loads(user["content"]) == {
        "question": "q?",
        "expected": {"keywords": ["x"]},
        "forbidden": {},
        "answer": "the answer",
    }
    fenced = parse_verdict(
        'Sure:\n```json\n{"correct": true, "forbidden": false, "reason": "ok"}\n```'
    )
    assert fenced.success and fenced.reason == "ok"
    assert not parse_verdict('{"correct": "yes", "forbidden": "true"}').success
    for bad in ["no verdict here", '{"correct": maybe}', '{"reason": "x"}', '{"correct": 3}']:
        with pytest.raises(JudgeParseError):
            parse_verdict(bad)


def test_figures_and_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    outcomes = [
        Outcome(True, False, False, 100, 10, 50.0, injected=2),
        Outcome(False, True, False, 300, 30, 150.0, injected=0),
        Outcome(False, False, True, 0, 0, 0.0, error=True),
    ]
    arm = figures(outcomes)
    assert (arm.probes, arm.answered, arm.errors) == (3, 2, 1)
    assert arm.success_rate == 0.3333 and arm.hallucination_rate == 0.3333
    assert arm.tokens_per_probe == 220.0 and arm.prompt_tokens_per_probe == 200.0
    assert arm.latency_p50_ms == 50.0 and arm.memories_per_probe == 1.0
    assert figures([]).success_rate == 0.0


def test_report_table_and_markdown() -> None:
    parsed = case(probes=[{"id": "city", "question": "city?", "expect": ["Lisbon"]}])
    probe = parsed.probes[0]
    results = [
        ProbeResult(
            "c",
            "city",
            Arm.NO_MEMORY,
            0,
            "city?",
            "I don't know.",
            10,
            2,
            20.0,
            rules=rule_verdict(probe, "I don't know."),
        ),
        ProbeResult(
            "c",
            "city",
            Arm.MEMORY,
            0,
            "city?",
            "Lisbon | really",
            30,
            2,
            40.0,
            1,
            rules=rule_verdict(probe, "Lisbon"),
        ),
    ]
    meta = {
        "cases": 1,
        "probes": 1,
        "model": "m",
        "upstream": "u",
        "proxy": "in-process",
        "scorer": "rules",
        "judge_model": None,
    }
    report = build_report(meta, results, [Arm.NO_MEMORY, Arm.MEMORY])
    assert report["arms"]["memory"]["success_rate"] == 1.0
    assert report["changes"] == {"memory": {"gains": ["c/city"], "regressions": []}}
    assert [ProbeResult.from_json(r) for r in report["results"]] == results
    table = render_table(report)
    assert "memory vs no-memory: 1 gained, 0 regressed" in table
    assert table.splitlines()[2].split()[:2] == ["arm", "success"]
    markdown = render_markdown(report)
    assert "| memory | 100% |" in markdown
    assert "| no-memory | c/city | I don't know. | lacks Lisbon |" in markdown


def test_arms_and_the_setup_plan() -> None:
    assert parse_arms("memory, no-memory,memory") == [Arm.MEMORY, Arm.NO_MEMORY]
    with pytest.raises(ValueError, match="unknown arm 'rag'"):
        parse_arms("no-memory,rag")
    long = case(
        setup=[{"session": "s", "time": "2024-01-02", "turns": [f"t{i}" for i in range(10)]}]
    )
    other = case(id="d", user="c", setup=[{"turns": ["later"]}])
    plan = setup_plan([long, other])
    turns = plan["c"]
    assert [t.messages[-1]["content"] for t in turns] == [*(f"t{i}" for i in range(10)), "later"]
    assert max(len(t.messages) for t in turns) == SETUP_CONTEXT + 1
    headers = turns[0].headers("eval-x-c")
    assert headers == {
        "x-user-id": "eval-x-c",
        "x-memory-mode": "write-only",
        "x-session-id": "s",
        "x-memory-time": "2024-01-02T00:00:00+00:00",
    }
    history = [{"role": "user", "content": "t0"}]
    assert probe_messages(Arm.FULL_CONTEXT, "q", history)[0]["content"] == "t0"
    assert probe_messages(Arm.MEMORY, "q", history) == [{"role": "user", "content": "q"}]


def test_prefeval_adapter(tmp_path: Path) -> None:
    items = [
        {"preference": "I avoid gluten.", "question": "Dinner in Rome?", "explanation": "pasta"},
        {"preference": "I hate crowds.", "question": "Visit Paris?", "explanation": "queues"},
    ]
    (tmp_path / "travel_restaurant.json").write_text(json.dumps(items))
    chat = [{"role": "user", "content": "How do I sort a list in Python quickly?"}]
    (tmp_path / "filtered_inter_turns.json").write_text(json.dumps([{"conversation": chat}]))
    cases = prefeval_cases(tmp_path, distractors=1)
    assert [c.id for c in cases] == ["prefeval-travel_restaurant-0", "prefeval-travel_restaurant-1"]
    first = cases[0]
    assert sorted(first.setup[0].user_turns) == sorted([chat[0]["content"], "I avoid gluten."])
    assert first.probes[0].expect.needs_judge
    assert first.probes[0].expect.follows is not None and "pasta" in first.probes[0].expect.follows
    assert prefeval_cases(tmp_path, distractors=1) == cases  # seeded: the same every time
    with pytest.raises(EvalError, match="no PrefEval topic files"):
        prefeval_cases(tmp_path, topics=["nope"])


def test_locomo_adapter(tmp_path: Path) -> None:
    sample = {
        "sample_id": "conv-1",
        "conversation": {
            "speaker_a": "Ann",
            "speaker_b": "Bo",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Ann", "dia_id": "D1:1", "text": "I went to a support group."},
                {"speaker": "Bo", "dia_id": "D1:2", "text": "Nice!", "blip_caption": "a cat"},
            ],
        },
        "qa": [
            {"question": "When did Ann go?", "answer": "7 May 2023", "category": 2},
            {"question": "Bo's race?", "adversarial_answer": "self-care", "category": 5},
            {"question": "No answer?", "category": 1},
        ],
    }
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([sample]))
    [conv] = locomo_cases(path, categories={1, 2, 5})
    assert conv.id == "conv-1"
    assert conv.setup[0].time is not None and conv.setup[0].time.isoformat() == (
        "2023-05-08T13:56:00+00:00"
    )
    assert conv.setup[0].user_turns == [
        "Ann: I went to a support group.",
        "Bo: Nice! [shares a cat]",
    ]
    dated, adversarial = conv.probes
    assert dated.expect.reference == "7 May 2023"
    assert adversarial.expect.abstain and adversarial.forbid.claims == ["self-care"]
    assert locomo_cases(path, categories={4}) == []
    path.write_text('{"not": "a list"}')
    with pytest.raises(EvalError, match="not a LoCoMo file"):
        locomo_cases(path)
