"""A full disk under the data dir (issue 14, item 7): an answered turn that cannot be persisted is
counted in /healthz, its response says `X-Memory-Status: error`, flush does not claim success,
health turns degraded, and everything recovers when space returns.

The disk is real: a small tmpfs mounted by the test (root is needed; skipped otherwise), filled
with a file until the kernel says ENOSPC."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ProxyFactory, wait_until
from tests.test_errors import assert_envelope


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs, unmounted after the proxies on it have stopped (fixture order)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root and mount(8) to create a small filesystem")
    created = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if created.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {created.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill(disk: Path) -> Path:
    """Write a file until the filesystem is full; returns it (delete it to make room)."""
    filler = disk / "filler"
    block = b"\0" * (1 << 16)
    with filler.open("wb", buffering=0) as out:
        while True:
            try:
                out.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
    with contextlib.suppress(OSError), (disk / "crumbs").open("wb", buffering=0) as out:
        while True:  # what a 64 KiB write could not take
            out.write(b"\0" * 512)
    return filler


def chat(url: str, user: str, text: str, stream: bool = False) -> httpx.Response:
    body = {"model": "gpt-fake", "stream": stream, "messages": [{"role": "user", "content": text}]}
    return httpx.post(
        f"{url}/v1/chat/completions", json=body, headers={"x-user-id": user}, timeout=30
    )


def statement(i: int) -> str:
    # Long enough that each turn needs fresh pages in the outbox's WAL.
    return f"I keep a kite number {i} named {uuid.uuid4().hex[:8]} in the attic. " + "x" * 3000


def test_a_full_disk_is_counted_reported_and_recovered_from(
    small_disk: Path, make_proxy: ProxyFactory
) -> None:
    proxy = make_proxy(data_dir=small_disk / "data")
    proxy.tell("before", "I keep bees on my roof.")  # the store has its files before the disk fills
    filler = fill(small_disk)

    answers = [chat(proxy.url, f"full-{i}", statement(i)) for i in range(10)]
    assert all(a.status_code == 200 and a.json()["choices"] for a in answers)  # still answered
    failed = [i for i, a in enumerate(answers) if a.headers["x-memory-status"] == "error"]
    assert failed, "no turn failed to persist on a full disk"
    health = proxy.http.get("/healthz").json()
    assert health["memory"]["writes"]["not_persisted"] == len(failed)
    assert health["memory"]["writer"] == "not_persisting" and health["status"] == "degraded"
    streamed = chat(proxy.url, "full-stream", statement(99), stream=True)
    assert streamed.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n")
    assert streamed.headers["x-memory-status"] == "error"
    refused = proxy.http.post("/memories/flush", params={"timeout": 10})
    error = assert_envelope(refused, 503, "writes_not_persisted")
    assert "could not be persisted" in error["message"]

    filler.unlink()
    (small_disk / "crumbs").unlink(missing_ok=True)
    wait_until(lambda: proxy.http.get("/healthz").json()["status"] == "ok")
    after = chat(proxy.url, "after", "I keep a red kite in the garage.")
    assert after.headers["x-memory-status"] != "error"
    proxy.flush()
    assert [m["text"] for m in proxy.memories("after")] == ["I keep a red kite in the garage."]
    # Turns that were persisted before the disk filled up are not lost either.
    assert [m["text"] for m in proxy.memories("before")] == ["I keep bees on my roof."]
    for i in range(len(answers)):
        if i not in failed:  # the WAL had room for this one: it was stored
            assert len(proxy.memories(f"full-{i}")) == 1
