"""Command line: `memory-proxy serve`; `memory-proxy memories ...` to manage what a running
proxy remembers (proxy/admin/cli.py); `memory-proxy eval` to measure what memory changes
(proxy/eval/cli.py); `memory-proxy mcp` to serve the memory to agents over MCP (proxy/mcp/)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from proxy.admin import cli as admin_cli
from proxy.eval import cli as eval_cli
from proxy.mcp import stdio as mcp_cli

__all__ = ["build_parser", "main", "serve"]

# One BLAS thread: the per-user matrix product is small, and OpenBLAS threads spinning beside
# the event loop and onnxruntime made it 5-20x slower on 2 cores (measured: 10k x 384 matvec
# 9-12 ms with the default, 0.5-2 ms with one thread). Set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memory-proxy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the proxy")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument(
        "--upstream",
        dest="upstream_url",
        help="OpenAI-compatible base URL, e.g. https://api.openai.com/v1",
    )
    serve.add_argument("--data-dir", help="where embedded memory lives (default ./memory-data)")
    serve.add_argument("--chroma-url", help="use a Chroma server instead of the embedded store")
    serve.add_argument("--config", dest="config_file", help="YAML configuration file")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--log-format", choices=["text", "json"], help="default text")
    admin_cli.register(commands)
    eval_cli.register(commands)
    mcp_cli.register(commands)
    return parser


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from proxy.app import create_app
    from proxy.http.server import limited_protocol
    from proxy.observe.logs import configure_logging
    from proxy.settings import load_settings

    flags = {k: v for k, v in vars(args).items() if k != "command"}
    settings = load_settings(**flags)
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # Our handler formats every line (text or JSON, with the request id); the proxy writes
        # its own line per request (proxy/observe/middleware.py) instead of uvicorn's.
        log_config=None,
        access_log=False,
        # The peer address decides who may use /memories/* without a key (proxy/auth.py): never
        # let X-Forwarded-For rewrite it (uvicorn would for 127.0.0.1 or FORWARDED_ALLOW_IPS).
        proxy_headers=False,
        # Header and body read timeouts, a header size limit (uvicorn has none of its own).
        http=limited_protocol(settings.header_timeout_s, settings.body_timeout_s),
        timeout_graceful_shutdown=int(settings.write.drain_timeout_s) + 5,
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        serve(args)
    elif args.command == "memories":
        status = admin_cli.run(args)
        if status:
            raise SystemExit(status)
    elif args.command == "eval":
        status = eval_cli.run(args)
        if status:
            raise SystemExit(status)
    elif args.command == "mcp":
        status = mcp_cli.run(args)
        if status:
            raise SystemExit(status)


if __name__ == "__main__":
    main()
