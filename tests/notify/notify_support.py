"""Helpers of the notification tests: secrets to look for, a mailbox, a loopback HTTP receiver."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SLACK_TOKEN = "xoxb-notify-token-4242"
HOOK_SECRET = "hook-signing-secret-7731"
SMTP_PASSWORD = "smtp-password-5150"


@dataclass
class Mailbox:
    """What the SMTP server received: each message parsed, with its envelope."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A loopback HTTP server that records each POST and answers ``status``."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.status = 204
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(owner.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text, encoding="utf-8")
