"""Fixtures: a real SMTP server (aiosmtpd), a loopback HTTP receiver, the loopback Slack, and
a config whose notification targets point at them."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from notify_support import SLACK_TOKEN, SMTP_PASSWORD, Mailbox, Receiver, free_port

from gorgon_nb.notify import wait_for_sends
from gorgon_nb.testing import ServiceServer


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


