"""litellm (2-3 s and ~165 MB to import) is not even imported by a proxy without routes or LLM
extraction, however it is used; with a route it is imported at start, in the background. Each
case runs in a fresh child interpreter: this test process has litellm loaded already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, os, sys, time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import httpx, openai

from proxy.app import create_app
from proxy.settings import Settings
from testbed.fake_upstream import FakeUpstream
from testbed.servers import ServerThread

fake = FakeUpstream()
with ServerThread(fake.app) as upstream:
    routes, data_dir = json.loads(sys.argv[1]), Path(sys.argv[2])
    settings = Settings(upstream_url=f"{upstream.url}/v1", data_dir=data_dir, routes=routes)
    with ServerThread(create_app(settings)) as proxy:
        client = openai.OpenAI(
            base_url=f"{proxy.url}/v1", api_key="k", default_headers={"X-User-Id": "u"}
        )
        said = [{"role": "user", "content": "I live in Oslo."}]
        client.chat.completions.create(model="gpt-fake", messages=said)
        list(client.chat.completions.create(model="gpt-fake", messages=said, stream=True))
        client.models.list()
        httpx.post(f"{proxy.url}/memories/flush", params={"timeout": 30}).raise_for_status()
        memories = httpx.get(f"{proxy.url}/memories", params={"user_id": "u"}).json()["data"]
        deadline = time.monotonic() + (30 if settings.routes else 0)
        while "litellm" not in sys.modules and time.monotonic() < deadline:
            time.sleep(0.05)
        print(json.dumps({"litellm": "litellm" in sys.modules, "memories": len(memories)}))
"""


def run_child(routes: list[dict[str, str]], data_dir: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(routes), str(data_dir)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("routes", "imported"),
    [
        ([], False),
        ([{"model": "claude-home", "litellm_model": "anthropic/claude-sonnet-4-5"}], True),
    ],
    ids=["no-routes", "a-route"],
)
def test_litellm_is_imported_only_when_a_route_needs_it(
    tmp_path: Path, routes: list[dict[str, str]], imported: bool
) -> None:
    result = run_child(routes, tmp_path)
    assert result == {"litellm": imported, "memories": 1}
