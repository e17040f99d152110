"""What an honest erase costs: the time `DELETE /memories?user_id=` spends compacting the
embedded store (scrubbing chromadb's log, merging its full-text index, VACUUM), by store size.

Memories (random unit vectors, short varied texts) are written straight through
`ChromaStore.upsert` over users of 10 memories each, then one user is erased as the route does
(`MemoryService.erase_blocking(scope, compact=True)`), and the text is looked for in every file
of the data dir afterwards.

    python bench/erase.py                      # 1k, 10k and 100k memories
    python bench/erase.py --sizes 1000 10000

Results: a table on stdout and bench/results/erase.json.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the repo root: `bench` imports from a plain checkout
    sys.path.insert(0, str(ROOT))

from bench.report import run_header  # noqa: E402
from proxy.core.records import Memory  # noqa: E402
from proxy.core.scope import Scope  # noqa: E402
from proxy.memory.embed.base import TextKind  # noqa: E402
from proxy.memory.recall.retrieval import SelectionParams  # noqa: E402
from proxy.memory.service import MemoryService, memory_id  # noqa: E402
from proxy.memory.storage.chroma import ChromaStore  # noqa: E402
from proxy.memory.storage.history import History  # noqa: E402

DIM = 384
PER_USER = 10
WORDS = "river garden violin tea Lisbon kite orchid stamp harbour lantern maple pepper".split()
RESULTS = Path(__file__).parent / "results" / "erase.json"


class RandomEmbedder:
    """Stands in for the model: erase never embeds, the service only needs the shape."""

    name = "bench-random"
    dim = DIM

    def embed(self, texts: list[str], kind: TextKind) -> np.ndarray:
        vectors = np.random.default_rng(len(texts)).normal(size=(len(texts), DIM))
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def ingest(store: ChromaStore, size: int, rng: random.Random) -> None:
    now = datetime.now(UTC)
    batch: list[Memory] = []
    for n in range(size):
        user = f"user-{n // PER_USER}"
        text = f"{user} likes the {rng.choice(WORDS)} and the {rng.choice(WORDS)} number {n}"
        batch.append(Memory(memory_id(user, n), text, Scope(user), now, now))
        if len(batch) == 1000 or n == size - 1:
            vectors = np.random.default_rng(n).normal(size=(len(batch), DIM)).astype(np.float32)
            store.upsert(batch, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
            batch = []


def measure(size: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-erase-"))
    try:
        store = ChromaStore.connect(workdir, None, RandomEmbedder.name)
        started = time.perf_counter()
        ingest(store, size, random.Random(size))
        ingest_s = time.perf_counter() - started
        service = MemoryService(
            store, RandomEmbedder(), History(workdir / "history.sqlite3"), SelectionParams()
        )
        chroma_file = workdir / "chroma" / "chroma.sqlite3"
        file_bytes = chroma_file.stat().st_size
        victim = "user-0"
        started = time.perf_counter()
        deleted = service.erase_blocking(Scope(victim), compact=False)
        delete_s = time.perf_counter() - started
        assert deleted == PER_USER
        started = time.perf_counter()
        store.compact([memory_id(victim, n) for n in range(PER_USER)])
        compact_s = time.perf_counter() - started
        needle = f"{victim} likes".encode()
        left = [p.name for p in workdir.rglob("*") if p.is_file() and needle in p.read_bytes()]
        service.close()
        return {
            "memories": size,
            "ingest_s": round(ingest_s, 1),
            "chroma_sqlite_mib": round(file_bytes / 2**20, 1),
            "delete_ms": round(delete_s * 1000, 1),
            "compact_s": round(compact_s, 2),
            "files_with_erased_text": left,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = parser.parse_args()
    results = {**run_header("erase"), "runs": []}
    print(f"{'memories':>9} {'sqlite MiB':>10} {'delete ms':>10} {'compact s':>10}  text left")
    for size in args.sizes:
        run = measure(size)
        results["runs"].append(run)
        print(
            f"{run['memories']:>9} {run['chroma_sqlite_mib']:>10} {run['delete_ms']:>10}"
            f" {run['compact_s']:>10}  {run['files_with_erased_text'] or 'none'}"
        )
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
