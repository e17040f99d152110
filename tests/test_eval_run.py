"""`memory-proxy eval` end to end: the real CLI in a child process, its in-process proxy on an
ephemeral port, and a loopback model that answers only from what it is shown (tests/fake_model.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.servers import ServerThread
from tests.fake_model import FakeModel

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "config" / "eval" / "seed.jsonl"
KEY = "sk-eval-test-key"


@pytest.fixture
def model() -> Iterator[FakeModel]:
    fake = FakeModel()
    with ServerThread(fake.app) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


def evaluate(
    model: FakeModel, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("memory-proxy")
    command = [
        str(script),
        "eval",
        *args,
        "--model",
        "fake-model",
        "--upstream",
        f"{model.url}/v1",  # type: ignore[attr-defined]
        "--no-progress",
    ]
    child_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MEMORY_PROXY_", "OPENAI_"))
    }
    child_env |= {"MEMORY_PROXY_EVAL_API_KEY": KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=child_env | (env or {})
    )


def by_key(report: dict[str, Any], arm: str) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in report["results"] if r["arm"] == arm}


def test_seed_memory_beats_no_memory_and_forbidden_claims_are_caught(
    model: FakeModel, tmp_path: Path
) -> None:
    output = tmp_path / "out" / "report.json"
    done = evaluate(
        model, str(SEED), "--arms", "no-memory,memory,full-context", "--output", str(output)
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(output.read_text())
    arms = report["arms"]
    assert report["probes"] == 8 and report["cases"] == 4 and report["complete"]
    assert [arm["probes"] for arm in arms.values()] == [8, 8, 8]

    # Without memory the model knows nothing: it abstains, right only where abstaining is right.
    assert arms["no-memory"]["success_rate"] == 0.125
    assert arms["no-memory"]["abstain_rate"] == 1.0
    assert arms["no-memory"]["hallucination_rate"] == 0.0
    # With memory it answers from what the proxy injected.
    assert arms["memory"]["success_rate"] >= 0.75
    assert arms["memory"]["success_rate"] - arms["no-memory"]["success_rate"] >= 0.6
    assert arms["memory"]["memories_per_probe"] > 0
    memory = by_key(report, "memory")
    for key in ["sam-prefs/language", "dana-moves/job", "alex-dog/dog", "bea-no-leak/cat"]:
        assert memory[key]["success"], memory[key]
    # bea has no dog: alex's Rex must not reach her (the leak probe is asked of bea's memory).
    assert memory["bea-no-leak/dog"]["success"] and memory["bea-no-leak/dog"]["answer"] == (
        "I don't know."
    )
    # Full context shows the model every statement, superseded ones too: the naive model picks
    # the older one, and the forbidden-value rule catches it.
    full = by_key(report, "full-context")
    assert arms["full-context"]["hallucination_rate"] == 0.375
    flagged = {key: r["rules"]["forbidden"] for key, r in full.items() if r["hallucinated"]}
    assert flagged == {
        "dana-moves/city": ["Berlin"],
        "dana-moves/job": ["nurse"],
        "sam-prefs/language": ["Python"],
    }
    assert (
        arms["full-context"]["prompt_tokens_per_probe"]
        > arms["no-memory"]["prompt_tokens_per_probe"]
    )
    assert report["changes"]["memory"]["regressions"] == []
    assert "sam-prefs/language" in report["changes"]["memory"]["gains"]

    # The table on the terminal, Markdown beside the JSON, the state file with every probe.
    assert "no-memory" in done.stdout and "full-context" in done.stdout
    assert "| memory |" in output.with_suffix(".md").read_text()
    state = output.with_name("report.json.state.jsonl").read_text().splitlines()
    assert sum('"result"' in line for line in state) == 24
    assert not output.with_name("report.json.data").exists()  # a complete run cleans up

    # Setup went through the proxy as chats, dated, then every arm asked with the user's key.
    assert report["setup"]["turns"] == 11 and report["setup"]["failed_calls"] == 0
    assert len(model.requests) == 11 + 24
    assert {r["headers"]["authorization"] for r in model.requests} == {f"Bearer {KEY}"}
    assert all("x-user-id" not in r["headers"] for r in model.requests)


def test_an_interrupted_run_resumes_with_only_what_is_missing(
    model: FakeModel, tmp_path: Path
) -> None:
    output = tmp_path / "report.json"
    model.fail_on = "dog"  # an outage: every question about a dog gets a 500
    first = evaluate(model, str(SEED), "--output", str(output), "--concurrency", "2")
    assert first.returncode == 1
    assert "run again" in first.stderr
    report = json.loads(output.read_text())
    assert not report["complete"]
    failed = sorted(r["key"] + "@" + r["arm"] for r in report["results"] if r["error"])
    assert failed == [
        "alex-dog/dog@memory",
        "alex-dog/dog@no-memory",
        "bea-no-leak/dog@memory",
        "bea-no-leak/dog@no-memory",
    ]
    assert all(r["error"].startswith("HTTP 500") for r in report["results"] if r["error"])
    assert output.with_name("report.json.data").is_dir()  # kept for the resume

    model.fail_on = None
    model.requests.clear()
    second = evaluate(model, str(SEED), "--output", str(output))
    assert second.returncode == 0, second.stderr
    # No setup replayed, only the four failed probes asked again.
    assert sorted(model.questions()) == ["What is my dog called?"] * 4
    resumed = json.loads(output.read_text())
    assert resumed["complete"] and resumed["run_id"] == report["run_id"]
    assert resumed["arms"]["memory"]["probes"] == 8
    assert by_key(resumed, "memory")["alex-dog/dog"]["answer"] == "My dog is called Rex."
    assert not output.with_name("report.json.data").exists()

    # A state file of other settings is never resumed into.
    other = evaluate(model, str(SEED), "--output", str(output), "--max-tokens", "50")
    assert other.returncode == 1
    assert "belongs to a run with other cases or settings" in other.stderr


def test_judge_model_grades_through_litellm(model: FakeModel, tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    preference = {
        "id": "nuts",
        "setup": [{"turns": ["I am allergic to peanuts."]}],
        "probes": [
            {
                "question": "Which snack should I avoid because I am allergic?",
                "expect": {"follows": "I am allergic to peanuts."},
            }
        ],
    }
    cases.write_text(SEED.read_text() + json.dumps(preference) + "\n")
    without_judge = evaluate(model, str(cases), "--output", str(tmp_path / "a.json"))
    assert without_judge.returncode == 1
    assert "--judge-model" in without_judge.stderr

    output = tmp_path / "judged.json"
    done = evaluate(
        model,
        str(cases),
        "--output",
        str(output),
        "--judge-model",
        "openai/fake-judge",
        "--judge-api-base",
        f"{model.url}/v1",  # type: ignore[attr-defined]
        env={"MEMORY_PROXY_EVAL_JUDGE_API_KEY": "judge-key"},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(output.read_text())
    assert report["scorer"] == "judge" and report["judge_model"] == "openai/fake-judge"
    judged = model.asked("fake-judge")
    assert len(judged) == 9 * 2  # every probe of both arms, once
    assert {r["headers"]["authorization"] for r in judged} == {"Bearer judge-key"}
    assert all(r["judge"]["reason"].startswith("fake judge") for r in report["results"])
    memory = by_key(report, "memory")
    assert memory["nuts/p1"]["judge"]["correct"] and memory["nuts/p1"]["success"]
    assert not by_key(report, "no-memory")["nuts/p1"]["success"]
    assert report["arms"]["memory"]["success_rate"] > report["arms"]["no-memory"]["success_rate"]
    # What the judge saw: the rubric, then the probe and the answer as one JSON object.
    shown = json.loads(judged[0]["messages"][-1]["content"])
    assert set(shown) == {"question", "expected", "forbidden", "answer"}
    assert judged[0]["messages"][0]["role"] == "system"


def test_bad_cases_file_is_a_clear_error(model: FakeModel, tmp_path: Path) -> None:
    cases = tmp_path / "bad.jsonl"
    cases.write_text('{"id": "a", "probes": [{"question": "q", "expect": ["x"]}]}\n{"id": "b"}\n')
    done = evaluate(model, str(cases), "--output", str(tmp_path / "r.json"))
    assert done.returncode == 1
    assert "line 2: probes: Field required" in done.stderr
    assert "Traceback" not in done.stderr
    assert model.requests == []
