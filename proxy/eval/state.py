"""The state file beside the report: what an interrupted run finished, so a rerun goes on.

JSONL: a header naming the run (its fingerprint: the cases and the settings that change the
figures; its id: the prefix of its memory users), then one line per finished step. A line cut
short by the interruption is ignored; a state file of another run is refused, never mixed in.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import IO, Any

from proxy.core.errors import EvalError
from proxy.eval.results import ProbeResult

__all__ = ["RunState", "state_path"]


def state_path(output: Path) -> Path:
    return output.with_name(output.name + ".state.jsonl")


class RunState:
    def __init__(self, path: Path, fingerprint: str, run_id: str) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.run_id = run_id
        self.setup_done = False
        self.setup_stats: dict[str, Any] | None = None
        self.results: dict[str, ProbeResult] = {}
        self._file: IO[str] | None = None

    @classmethod
    def open(cls, path: Path, fingerprint: str) -> RunState:
        """The state of this run: read back if the file exists, else started."""
        if not path.exists():
            state = cls(path, fingerprint, secrets.token_hex(4))
            state._append({"fingerprint": fingerprint, "run_id": state.run_id})
            return state
        lines = path.read_text(encoding="utf-8").splitlines()
        header = _json(lines[0]) if lines else None
        if not header or "fingerprint" not in header:
            raise EvalError(f"{path} is not an eval state file; delete it or choose another output")
        if header["fingerprint"] != fingerprint:
            raise EvalError(
                f"{path} belongs to a run with other cases or settings; delete it to start over,"
                " or run with the same ones to resume"
            )
        state = cls(path, fingerprint, str(header["run_id"]))
        for line in lines[1:]:
            entry = _json(line)
            if entry is None:
                continue  # the line being written when the run was interrupted
            if entry.get("setup") == "done":
                state.setup_done = True
                state.setup_stats = entry.get("stats")
            elif "result" in entry:
                result = ProbeResult.from_json(entry["result"])
                state.results[result.state_key] = result
        return state

    def mark_setup_done(self, stats: dict[str, Any] | None = None) -> None:
        self.setup_done = True
        self.setup_stats = stats
        self._append({"setup": "done", "stats": stats})

    def record(self, result: ProbeResult) -> None:
        """Only answered probes are kept: a failed call is asked again on the next run."""
        if result.error is not None:
            return
        self.results[result.state_key] = result
        self._append({"result": result.to_json()})

    def _append(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _json(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
