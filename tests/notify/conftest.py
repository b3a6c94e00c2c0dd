"""Fixtures: a real SMTP server (aiosmtpd), a loopback HTTP receiver, the loopback Slack, and
a config whose notification targets point at them."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gorgon_nb.notify import wait_for_sends
from gorgon_nb.testing import ServiceServer

sys.path.insert(0, str(Path(__file__).parent))

SLACK_TOKEN = "xoxb-notify-token-4242"
HOOK_SECRET = "hook-signing-secret-7731"
SMTP_PASSWORD = "smtp-password-5150"


@dataclass
class Mailbox:
    """What the SMTP server received: each message parsed, with its envelope."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    """A real SMTP server on loopback (no TLS, plain logins accepted over it)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Mailbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            box.logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=data.password.decode() == SMTP_PASSWORD)
        return AuthResult(success=False)

    controller = Controller(_Handler(box), hostname="127.0.0.1", port=free_port(), authenticator=authenticate,
                            auth_require_tls=False)
    controller.start()
    try:
        yield controller.port, box
    finally:
        controller.stop()


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


@pytest.fixture
def hook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def svc() -> Iterator[ServiceServer]:
    with ServiceServer(tokens={"slack": SLACK_TOKEN}) as server:
        server.slack.add_channel("C200", "ci")
        yield server


@pytest.fixture(autouse=True)
def _sends_finish() -> Iterator[None]:
    """Every send a test started is over before its servers and store close."""
    yield
    wait_for_sends(60)


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text, encoding="utf-8")
