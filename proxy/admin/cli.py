"""`memory-proxy memories ...`: see, fix, export and erase what a running proxy remembers.

The server is named by --url / MEMORY_PROXY_URL and the key by --admin-key /
MEMORY_PROXY_ADMIN_KEY (needed unless the proxy runs on this machine without one).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from pydantic_settings import BaseSettings, SettingsConfigDict
from tqdm import tqdm

from proxy.admin.client import AdminClient, AdminError

__all__ = ["EXIT_ERROR", "EXIT_USAGE", "Action", "ClientSettings", "describe", "register", "run"]

EXIT_ERROR = 1
EXIT_USAGE = 2
_CHUNK_LINES = 200  # import upload granularity (and progress bar steps)


class ClientSettings(BaseSettings):
    """Where the proxy is and the key to it; flags override these environment variables."""

    model_config = SettingsConfigDict(env_prefix="MEMORY_PROXY_", extra="ignore")

    url: str = "http://127.0.0.1:8080"
    admin_key: str | None = None


def register(commands: Any) -> None:
    """Add `memories` and its subcommands to the `memory-proxy` parser."""
    parser = commands.add_parser(
        "memories", help="manage the memories of a running proxy", description=__doc__
    )
    parser.add_argument("--url", help="proxy base URL (env MEMORY_PROXY_URL; 127.0.0.1:8080)")
    parser.add_argument("--admin-key", help="admin key (env MEMORY_PROXY_ADMIN_KEY)")
    actions = parser.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="a user's memories, oldest first")
    _scope_flags(listing)
    listing.add_argument("--limit", type=int, help="show at most this many")
    listing.add_argument("--include-superseded", action="store_true")
    listing.add_argument("--tier", choices=["profile", "episodic"], help="only this tier")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")

    search = actions.add_parser("search", help="the memories most relevant to a query")
    _scope_flags(search)
    search.add_argument("query")
    search.add_argument("-k", type=int, default=10, help="most results (default 10)")
    search.add_argument("--json", action="store_true", help="one JSON object per line")

    profile = actions.add_parser(
        "profile", help="a user's standing profile, and what of it a request carries"
    )
    profile.add_argument("--user", required=True, help="whose profile")
    profile.add_argument("--agent", help="narrow to this agent")
    profile.add_argument("--json", action="store_true")

    show = actions.add_parser("show", help="one memory and its history")
    show.add_argument("memory_id")
    show.add_argument("--json", action="store_true")

    delete = actions.add_parser("delete", help="delete memories by id, or all of a user/session")
    delete.add_argument("memory_ids", nargs="*", metavar="ID")
    delete.add_argument("--user", help="delete every memory of this user (needs --yes)")
    delete.add_argument("--session", help="with --user: only this session's memories")
    delete.add_argument("--yes", action="store_true", help="confirm deleting by user/session")

    export = actions.add_parser("export", help="write memories as JSONL")
    export.add_argument("--user", help="only this user's memories")
    export.add_argument("-o", "--output", default="-", help="file to write (default stdout)")
    export.add_argument("--no-progress", action="store_true")

    load = actions.add_parser("import", help="read memories from JSONL (idempotent by id)")
    load.add_argument("file", help="a file written by export, or - for stdin")
    load.add_argument("--no-progress", action="store_true")


def _scope_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="whose memories")
    parser.add_argument("--session", help="narrow to this session")
    parser.add_argument("--agent", help="narrow to this agent")


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """Run one `memories` action; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    env = ClientSettings()
    url = args.url or env.url
    key = args.admin_key or env.admin_key
    try:
        with AdminClient(url, key) as client:
            return _ACTIONS[args.action](client, args, out, err)
    except AdminError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR


Action = Callable[[AdminClient, argparse.Namespace, IO[str], IO[str]], int]


def _list(client: AdminClient, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    memories = client.memories(
        args.user,
        session_id=args.session,
        agent_id=args.agent,
        include_superseded=args.include_superseded or None,
        tier=args.tier,
        limit=min(args.limit, 1000) if args.limit else 1000,
    )
    for shown, memory in enumerate(memories):
        if args.limit is not None and shown >= args.limit:
            break
        print(json.dumps(memory, ensure_ascii=False) if args.json else describe(memory), file=out)
    return 0


def _search(client: AdminClient, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    hits = client.search(
        args.user, args.query, args.k, session_id=args.session, agent_id=args.agent
    )
    for hit in hits:
        line = json.dumps(hit, ensure_ascii=False) if args.json else describe(hit)
        print(line if args.json else f"{hit['score']:.3f}  {line}", file=out)
    if not hits and not args.json:
        print("no relevant memories", file=err)
    return 0


def _profile(client: AdminClient, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    profile = client.profile(args.user, agent_id=args.agent)
    if args.json:
        print(json.dumps(profile, ensure_ascii=False, indent=2), file=out)
        return 0
    carried = set(profile["injected"])
    for memory in profile["data"]:
        mark = "*" if memory["id"] in carried else " "
        print(f"{mark} {describe(memory)}", file=out)
    if not profile["data"]:
        print("no profile memories", file=err)
    else:
        print(
            f"* carried by every request: {len(carried)} of {len(profile['data'])},"
            f" about {profile['tokens']} tokens",
            file=out,
        )
    return 0


def _show(client: AdminClient, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    memory = client.get(args.memory_id)
    events = client.history(args.memory_id)
    if args.json:
        print(json.dumps({**memory, "history": events}, ensure_ascii=False, indent=2), file=out)
        return 0
    for field in ("id", "text", "user_id", "session_id", "agent_id", "kind", "tier", "status"):
        print(f"{field:>13}: {_or_dash(memory.get(field))}", file=out)
    for field in ("occurred_at", "created_at", "updated_at", "expires_at", "source"):
        print(f"{field:>13}: {_or_dash(memory.get(field))}", file=out)
    if memory.get("metadata"):
        print(f"{'metadata':>13}: {json.dumps(memory['metadata'], ensure_ascii=False)}", file=out)
    print("history:", file=out)
    for event in events:
        change = event["new_text"] if event["old_text"] is None else event["old_text"]
        if event["old_text"] is not None and event["new_text"] is not None:
            change = f"{event['old_text']} -> {event['new_text']}"
        print(f"  {event['at']}  {event['event']:<9} {change}", file=out)
    return 0


def _delete(client: AdminClient, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    if bool(args.memory_ids) == bool(args.user) or (args.session and not args.user):
        print("error: give memory ids, or --user [--session] (not both)", file=err)
        return EXIT_USAGE
    if args.user:
        if not args.yes:
            what = f"session {args.session!r} of user" if args.session else "user"
            print(f"error: this deletes every memory of {what} {args.user!r}; add --yes", file=err)
            return EXIT_USAGE
        erased = client.erase(args.user, args.session)
        print(f"deleted {erased['deleted']} memories", file=out)
        return 0
    for memory_id in args.memory_ids:
        client.delete(memory_id)
        print(f"deleted {memory_id}", file=out)
    return 0


def _export(client: AdminClient, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    total = None if args.no_progress else _export_size(client, args.user)
    if args.output == "-":
        count = _write_export(client, args, out, total, err)
        print(f"exported {count} memories", file=err)
        return 0
    final = Path(args.output)
    partial = final.with_name(final.name + ".partial")  # a broken export never looks finished
    try:
        with partial.open("w", encoding="utf-8") as target:
            count = _write_export(client, args, target, total, err)
        partial.replace(final)
    finally:
        partial.unlink(missing_ok=True)
    print(f"exported {count} memories to {final}", file=err)
    return 0


def _write_export(
    client: AdminClient, args: argparse.Namespace, target: IO[str], total: int | None, err: IO[str]
) -> int:
    count = 0
    with _bar(total, "export", args.no_progress, err) as bar:
        for line in client.export_lines(args.user):
            target.write(line + "\n")
            count += 1
            bar.update(1)
    return count


def _export_size(client: AdminClient, user_id: str | None) -> int | None:
    stats = client.stats()
    if user_id is None:
        return int(stats["total"]) + int(stats["superseded"])
    for user in stats["users"]:
        if user["user_id"] == user_id:
            return int(user["memories"]) + int(user["superseded"])
    return 0


def _import(client: AdminClient, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    with contextlib.ExitStack() as stack:
        if args.file == "-":
            source: IO[bytes] = sys.stdin.buffer
            total = None
        else:
            path = Path(args.file)
            if not path.is_file():
                print(f"error: no such file: {path}", file=err)
                return EXIT_USAGE
            source = stack.enter_context(path.open("rb"))
            total = _count_lines(path)
        bar = stack.enter_context(_bar(total, "import", args.no_progress, err))
        result = client.import_lines(
            _chunks(source), on_sent=lambda chunk: bar.update(_lines_in(chunk))
        )
    print(
        f"imported {result['imported']} memories: {result['added']} added,"
        f" {result['updated']} updated, {result['unchanged']} unchanged",
        file=out,
    )
    return 0


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    lines: list[bytes] = []
    for line in source:
        lines.append(line if line.endswith(b"\n") else line + b"\n")
        if len(lines) >= _CHUNK_LINES:
            yield b"".join(lines)
            lines = []
    if lines:
        yield b"".join(lines)


def _lines_in(chunk: bytes) -> int:
    return sum(1 for line in chunk.split(b"\n") if line.strip())


def _count_lines(path: Path) -> int:
    with path.open("rb") as source:
        return sum(1 for line in source if line.strip())


def _bar(total: int | None, what: str, off: bool, err: IO[str]) -> tqdm[Any]:
    return tqdm(total=total, desc=what, unit=" memories", disable=off, file=err, leave=True)


def describe(memory: dict[str, Any]) -> str:
    """One line a person can scan: id, date, scope, flags, text."""
    scope = memory["user_id"]
    if memory.get("session_id"):
        scope += f"/{memory['session_id']}"
    if memory.get("agent_id"):
        scope += f"@{memory['agent_id']}"
    flags = " [profile]" if memory.get("tier") == "profile" else ""
    if memory.get("status") == "superseded":
        flags += " [superseded]"
    if memory.get("expires_at"):
        flags += f" [expires {memory['expires_at'][:10]}]"
    return f"{memory['id']}  {memory['occurred_at'][:10]}  {scope}{flags}  {memory['text']}"


def _or_dash(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


_ACTIONS: dict[str, Action] = {
    "list": _list,
    "search": _search,
    "show": _show,
    "profile": _profile,
    "delete": _delete,
    "export": _export,
    "import": _import,
}
