"""`memory-proxy memories ...` against real proxies: every action, keys from flags and the
environment, progress bars, and errors a person can read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from proxy.admin.client import AdminClient
from proxy.cli import main
from proxy.settings import secret
from tests.conftest import Proxy, ProxyFactory
from tests.test_memories_api import FACTS

KEY = "cli-admin-key-42"


def create(proxy: Proxy, user: str, text: str, **fields: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {secret(proxy.settings.admin_key)}"}
    response = proxy.http.post(
        "/memories",
        json={"user_id": user, "text": text, **fields},
        headers=headers if proxy.settings.admin_key else {},
    )
    assert response.status_code == 201, response.text
    return response.json()["added"][0]


def cli(
    capsys: pytest.CaptureFixture[str], proxy: Proxy | None, *args: str, status: int = 0
) -> tuple[str, str]:
    """Run `memory-proxy memories [--url ...] args`; return (stdout, stderr)."""
    argv = ["memories", *(["--url", proxy.url] if proxy else []), *args]
    if status == 0:
        main(argv)
    else:
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == status
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_list_shows_a_users_memories(proxy: Proxy, capsys: pytest.CaptureFixture[str]) -> None:
    ids = [create(proxy, "amy", text, session_id="s1")["id"] for text in FACTS[:3]]
    create(proxy, "bob", FACTS[3])
    out, _ = cli(capsys, proxy, "list", "--user", "amy")
    lines = out.splitlines()
    assert len(lines) == 3
    for memory_id, text, line in zip(ids, FACTS, lines, strict=False):
        assert line.startswith(memory_id) and line.endswith(text) and "amy/s1" in line
    out, _ = cli(capsys, proxy, "list", "--user", "amy", "--json", "--limit", "2")
    assert [json.loads(line)["id"] for line in out.splitlines()] == ids[:2]
    out, _ = cli(capsys, proxy, "list", "--user", "amy", "--session", "s2")
    assert out == ""


def test_the_client_follows_pages(proxy: Proxy) -> None:
    ids = [create(proxy, "cy", text)["id"] for text in FACTS]
    with AdminClient(proxy.url) as client:
        assert [m["id"] for m in client.memories("cy", limit=2)] == ids


def test_search_and_show(proxy: Proxy, capsys: pytest.CaptureFixture[str]) -> None:
    for text in FACTS:
        create(proxy, "di", text, metadata={"from": "cli-test"})
    out, _ = cli(capsys, proxy, "search", "--user", "di", "-k", "1", "Which instrument do I play?")
    (line,) = out.splitlines()
    assert line.endswith(FACTS[0])
    memory_id = line.split()[1]
    out, _ = cli(capsys, proxy, "search", "--user", "di", "--json", "violin")
    assert json.loads(out.splitlines()[0])["id"] == memory_id
    _, err = cli(capsys, proxy, "search", "--user", "nobody", "violin")
    assert "no relevant memories" in err
    out, _ = cli(capsys, proxy, "show", memory_id)
    assert FACTS[0] in out and "ADD" in out and '"from": "cli-test"' in out
    out, _ = cli(capsys, proxy, "show", memory_id, "--json")
    shown = json.loads(out)
    assert shown["id"] == memory_id and [e["event"] for e in shown["history"]] == ["ADD"]


def test_delete_by_id_and_by_user(proxy: Proxy, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = (create(proxy, "ed", text)["id"] for text in FACTS[:2])
    kept = create(proxy, "fay", FACTS[2])
    out, _ = cli(capsys, proxy, "delete", first)
    assert out.strip() == f"deleted {first}"
    assert [m["id"] for m in proxy.memories("ed")] == [second]
    _, err = cli(capsys, proxy, "delete", "--user", "ed", status=2)
    assert "--yes" in err and len(proxy.memories("ed")) == 1
    _, err = cli(capsys, proxy, "delete", status=2)
    assert "give memory ids" in err
    out, _ = cli(capsys, proxy, "delete", "--user", "ed", "--yes")
    assert out.strip() == "deleted 1 memories"
    assert proxy.memories("ed") == [] and proxy.memories("fay") == [kept]
    _, err = cli(capsys, proxy, "delete", first, status=1)
    assert "HTTP 404" in err and "not_found" in err


def test_export_then_import_into_an_empty_proxy(
    make_proxy: ProxyFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_proxy()
    for user in ("gus", "hal"):
        for text in FACTS:
            create(source, user, text)
    dump = tmp_path / "memories.jsonl"
    _, err = cli(capsys, source, "export", "-o", str(dump))
    assert "10/10" in err and "exported 10 memories" in err  # the progress bar, then a summary
    assert not dump.with_name("memories.jsonl.partial").exists()
    lines = dump.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 10
    out, err = cli(capsys, source, "export", "--user", "hal", "--no-progress")
    assert sorted(out.splitlines()) == sorted(
        line for line in lines if json.loads(line)["user_id"] == "hal"
    )
    assert "%" not in err

    target = make_proxy()
    out, err = cli(capsys, target, "import", str(dump))
    assert out.strip() == "imported 10 memories: 10 added, 0 updated, 0 unchanged"
    assert "10/10" in err
    out, _ = cli(capsys, target, "export", "--no-progress")
    assert sorted(out.splitlines()) == sorted(lines)
    out, _ = cli(capsys, target, "import", str(dump), "--no-progress")
    assert out.strip() == "imported 10 memories: 0 added, 0 updated, 10 unchanged"


def test_import_errors_are_reported(
    proxy: Proxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, err = cli(capsys, proxy, "import", str(tmp_path / "missing.jsonl"), status=2)
    assert "no such file" in err
    bad = tmp_path / "bad.jsonl"
    good = create(proxy, "ida", FACTS[0])
    bad.write_text(json.dumps({**good, "id": "copy-1"}) + "\nnot json\n", encoding="utf-8")
    _, err = cli(capsys, proxy, "import", str(bad), "--no-progress", status=1)
    assert "HTTP 400" in err and "line 2" in err and "invalid_import_line" in err
    assert {m["id"] for m in proxy.memories("ida")} == {good["id"], "copy-1"}


def test_url_and_key_come_from_flags_or_the_environment(
    make_proxy: ProxyFactory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = make_proxy(admin_key=KEY)
    create(proxy, "jo", FACTS[0])
    _, err = cli(capsys, proxy, "list", "--user", "jo", status=1)
    assert "HTTP 401" in err and "invalid_admin_key" in err
    out, _ = cli(capsys, proxy, "--admin-key", KEY, "list", "--user", "jo")
    assert FACTS[0] in out
    monkeypatch.setenv("MEMORY_PROXY_URL", proxy.url)
    monkeypatch.setenv("MEMORY_PROXY_ADMIN_KEY", KEY)
    out, _ = cli(capsys, None, "list", "--user", "jo")
    assert FACTS[0] in out
    _, err = cli(capsys, None, "--admin-key", "wrong", "list", "--user", "jo", status=1)
    assert "HTTP 401" in err  # a flag overrides the environment


def test_an_unreachable_proxy_is_a_readable_error(
    proxy: Proxy, capsys: pytest.CaptureFixture[str]
) -> None:
    port = proxy.server.port
    proxy.server.stop()  # nothing listens on this port any more
    args = ["memories", "--url", f"http://127.0.0.1:{port}", "list", "--user", "u"]
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach memory-proxy at http://127.0.0.1:")
    assert "Traceback" not in err


def test_the_installed_command_runs(proxy: Proxy) -> None:
    create(proxy, "kim", FACTS[4])
    env = {**os.environ, "MEMORY_PROXY_URL": proxy.url}
    env.pop("MEMORY_PROXY_ADMIN_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "proxy", "memories", "list", "--user", "kim"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(FACTS[4])
