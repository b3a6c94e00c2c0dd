"""Chat through the Jupyter server: time to first token, and many sessions at once.

A real ``jupyter server`` with the gorgon extension, in its own process, talks to the
loopback LLM server (also in its own process) as an OpenAI-compatible provider. Measured:

- time to first token: from sending a chat message over the WebSocket to the first
  streamed text, next to the OpenAI SDK asking the loopback server directly (the floor);
- N chat sessions, each on its own WebSocket, asking at once: every answer must stream
  to the end, match what was stored, and no error may come back.

    python benchmarks/chat.py [--samples 30] [--sessions 50] [--latency 0.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fanout import serve  # type: ignore[import-not-found]
from tornado.websocket import WebSocketClientConnection, websocket_connect

TOKEN = "benchmark-token"
PROMPT = "@planner plan a picnic for {n} people"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def jupyter_server(home: Path, root: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "GORGON_HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "jupyter")}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", f"--ServerApp.port={port}", f"--IdentityProvider.token={TOKEN}",
         "--ServerApp.open_browser=False", "--ServerApp.allow_root=True", f"--ServerApp.root_dir={root}",
         "--ServerApp.jpserver_extensions={'gorgon_nb.server': True}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                api(base, "GET", "runs")
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the Jupyter server did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait()


def api(base: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(f"{base}/gorgon/api/{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


async def open_session(base: str) -> tuple[str, WebSocketClientConnection]:
    session = await asyncio.to_thread(api, base, "POST", "chat/sessions", {})
    url = base.replace("http", "ws") + f"/gorgon/api/chat/sessions/{session['id']}/ws?token={TOKEN}"
    return session["id"], await websocket_connect(url)


async def answer(connection: WebSocketClientConnection, text: str) -> tuple[float, dict[str, Any], str, list[str]]:
    """Send ``text``; return the time to the first streamed text, the final answer message,
    the streamed text and any error frames."""
    started = time.perf_counter()
    await connection.write_message(json.dumps({"type": "send", "text": text}))
    first, streamed, errors = 0.0, [], []
    while True:
        raw = await connection.read_message()
        if raw is None:
            raise RuntimeError("the server closed the socket")
        frame = json.loads(raw)
        if frame["type"] == "delta":
            first = first or time.perf_counter() - started
            streamed.append(frame["text"])
        elif frame["type"] == "error":
            errors.append(frame["message"])
            return first, {}, "", errors
        elif frame["type"] == "message" and frame["message"]["role"] == "agent" \
                and frame["message"]["status"] != "streaming":
            return first, frame["message"], "".join(streamed), errors


async def sdk_first_token(base_url: str, samples: int) -> list[float]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
    times = []
    try:
        for n in range(samples + 1):
            started = time.perf_counter()
            stream = await client.chat.completions.create(
                model="bench", stream=True, messages=[{"role": "user", "content": PROMPT.format(n=n)}])
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    times.append(time.perf_counter() - started)
                    break
            await stream.close()
    finally:
        await client.close()
    return times[1:]  # the first call starts the client


async def chat_first_token(base: str, samples: int) -> list[float]:
    times = []
    for n in range(samples + 1):
        _, connection = await open_session(base)
        first, message, _, errors = await answer(connection, PROMPT.format(n=n))
        assert not errors and message["status"] == "done", (errors, message)
        times.append(first)
        connection.close()
    return times[1:]  # the first answer loads the SDK in the server


async def concurrent_sessions(base: str, sessions: int) -> tuple[float, int, int]:
    opened = await asyncio.gather(*(open_session(base) for _ in range(sessions)))
    started = time.perf_counter()
    results = await asyncio.gather(*(answer(connection, PROMPT.format(n=n)) for n, (_, connection) in enumerate(opened)),
                                   return_exceptions=True)
    wall = time.perf_counter() - started
    failures = 0
    for (session_id, connection), result in zip(opened, results, strict=True):
        connection.close()
        if isinstance(result, BaseException) or result[3] or result[1].get("status") != "done":
            failures += 1
            continue
        stored = (await asyncio.to_thread(api, base, "GET", f"chat/sessions/{session_id}/messages"))["messages"]
        if stored[-1]["content"] != result[2] or result[1]["content"] != result[2]:
            failures += 1
    return wall, sessions - failures, failures


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"median {statistics.median(values) * 1000:6.1f} ms   "
            f"p90 {ordered[int(len(ordered) * 0.9) - 1] * 1000:6.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.0, help="the loopback server's answer latency")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve(args.latency) as base_url:
        home, root = Path(tmp), Path(tmp) / "root"
        root.mkdir()
        (home / "config.toml").write_text(
            f'[defaults]\nmodel = "loopback:bench"\n[providers.loopback]\nkind = "openai-compatible"\n'
            f'base_url = "{base_url}"\nmodel = "bench"\nconcurrency = {max(args.sessions, 8)}\nfree = true\n')
        with jupyter_server(home, root) as base:
            print(f"loopback LLM server latency {args.latency * 1000:.0f} ms; {args.samples} samples each")
            direct = asyncio.run(sdk_first_token(base_url, args.samples))
            print(f"{'SDK to the server':<28} first token {ms(direct)}")
            chat = asyncio.run(chat_first_token(base, args.samples))
            print(f"{'chat over the WebSocket':<28} first token {ms(chat)}")
            overhead = statistics.median(chat) - statistics.median(direct)
            print(f"{'overhead of the chat':<28} {overhead * 1000:+.1f} ms at the median "
                  f"({statistics.median(chat) / statistics.median(direct):.2f}x)")
            wall, ok, failed = asyncio.run(concurrent_sessions(base, args.sessions))
            print(f"{args.sessions} sessions at once: {ok} answers streamed in full, {failed} failed, "
                  f"{wall * 1000:.0f} ms for all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
