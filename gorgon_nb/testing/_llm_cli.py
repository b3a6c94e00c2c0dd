"""The command line of the loopback LLM server: ``python -m gorgon_nb.testing.llm_server``."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

__all__ = ["serve"]


def serve(server_class: Any, argv: list[str] | None = None) -> int:
    """Parse the options, start ``server_class`` (``LLMServer``) and serve until a signal."""
    parser = argparse.ArgumentParser(
        prog="python -m gorgon_nb.testing.llm_server",
        description="Serve fake OpenAI and Anthropic APIs on the loopback interface.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--api-key", default=None, help="refuse requests without this key")
    parser.add_argument("--models", default=None, help="comma-separated known models")
    parser.add_argument("--context-limit", type=int, default=None)
    parser.add_argument("--cached-tokens", type=int, default=0)
    parser.add_argument("--chunk-words", type=int, default=3)
    args = parser.parse_args(argv)
    server = server_class(
        latency=args.latency,
        api_key=args.api_key,
        models=args.models.split(",") if args.models else None,
        context_limit=args.context_limit,
        cached_tokens=args.cached_tokens,
        chunk_words=args.chunk_words,
        port=args.port,
        host=args.host,
    )
    with server:
        print(f"OpenAI base URL:    {server.openai_base_url}")
        print(f"Anthropic base URL: {server.anthropic_base_url}\nPress Ctrl-C to stop.", flush=True)
        # Handlers set explicitly: a shell starting us in the background ignores SIGINT.
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        done.wait()
    return 0
