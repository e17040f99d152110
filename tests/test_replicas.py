"""Several proxy replicas on one Chroma server (the deployment past one machine): what one
replica writes or deletes reaches the others, including users they have already loaded."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testbed.processes import free_port
from tests.conftest import Proxy, ProxyFactory, wait_until

REFRESH_S = 0.3


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("chroma")
    if binary is None:
        pytest.fail("the `chroma` command of the chromadb package is not installed")
    path = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (path / "server.log").open("wb")
    process = subprocess.Popen(
        [binary, "run", "--path", str(path / "data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, (path / "server.log").read_text()
        try:
            return httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(up, timeout=30)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def replicas(make_proxy: ProxyFactory, chroma_server: str) -> tuple[Proxy, Proxy]:
    options = {"chroma_url": chroma_server, "retrieval": {"shared_store_refresh_s": REFRESH_S}}
    return make_proxy(**options), make_proxy(**options)


def _status(proxy: Proxy, user: str, question: str) -> str:
    raw = proxy.client(user).chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": question}]
    )
    return raw.headers["x-memory-status"]


def test_a_memory_written_on_one_replica_reaches_another_that_had_the_user_loaded(
    replicas: tuple[Proxy, Proxy],
) -> None:
    first, second = replicas
    question = "What do I keep in my garden?"
    assert _status(second, "rita", question) == "none"  # the second replica now holds "rita"
    first.tell("rita", "I keep bees in my garden.")
    wait_until(lambda: _status(second, "rita", question) == "injected")
    assert [m["text"] for m in second.memories("rita")] == ["I keep bees in my garden."]


def test_a_memory_deleted_on_one_replica_disappears_from_another(
    replicas: tuple[Proxy, Proxy],
) -> None:
    first, second = replicas
    first.tell("sami", "My sister lives in Bergen.")
    wait_until(lambda: len(second.memories("sami")) == 1)
    memory_id = first.memories("sami")[0]["id"]
    assert first.http.delete(f"/memories/{memory_id}").status_code == 200
    wait_until(lambda: second.memories("sami") == [])
    assert _status(second, "sami", "Where does my sister live?") == "none"


def test_replicas_keep_their_own_outbox_and_history(replicas: tuple[Proxy, Proxy]) -> None:
    """Only the store is shared: each replica's data dir holds its own queue and history."""
    first, second = replicas
    assert Path(first.settings.data_dir) != Path(second.settings.data_dir)
    first.tell("tove", "I play the cello on Sundays.")
    assert (Path(first.settings.data_dir) / "outbox.sqlite3").is_file()
    assert not (Path(first.settings.data_dir) / "chroma").exists()
