"""Sending a message to a target: Slack (the Slack integration's client), email (SMTP), or a
webhook (a JSON POST, signed when the target has a secret).

Each sender is a plain blocking function bounded by the target's ``timeout``; callers run
it in a worker thread. Every failure comes out as an ``IntegrationError`` saying what to
check; ``retryable`` when trying later may help (no connection, a server error, a rate
limit). Passwords, secrets and tokens are read from the environment when a message is
sent and go nowhere else.

A webhook's body is the message's JSON (``Message.to_dict``). With ``secret_env`` set, the
request carries ``X-Gorgon-Signature-256: sha256=<hex HMAC-SHA256 of the body>`` (GitHub's
scheme), so a receiver can check that the message came from here; ``X-Gorgon-Delivery``
is the same for every try of one notification, so a receiver can drop a repeat.
"""

from __future__ import annotations

import json
import socket
import ssl
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import IntegrationError
from gorgon_nb.model.webhooks import sign  # GitHub's scheme, as webhooks check it
from gorgon_nb.notify.message import Message

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.model.notifications import TargetSettings

__all__ = ["SIGNATURE_HEADER", "send"]

SIGNATURE_HEADER = "X-Gorgon-Signature-256"



def _fail(target: TargetSettings, message: str, *, retryable: bool = False, unsure: bool = False) -> IntegrationError:
    return IntegrationError(f"notification target '{target.name}' ({target.where}): {message}",
                            service=target.kind, retryable=retryable, unsure=unsure)


def send(config: Config, target: TargetSettings, message: Message, delivery: str = "") -> dict[str, Any]:
    """Send ``message`` to ``target``; what the service answered (a Slack message's ts)."""
    if target.slack:
        return _slack(config, target, message)
    if target.email:
        return _email(config, target, message)
    return _webhook(config, target, message, delivery)


def _slack(config: Config, target: TargetSettings, message: Message) -> dict[str, Any]:
    from gorgon_nb.integrations import slack

    token = config.token("slack")
    if not token:
        variable = config.integrations["slack"].token_env
        raise _fail(target, f"Slack needs a bot token: set {variable} (a token with the chat:write scope)")
    settings = config.integrations["slack"].model_copy(update={"timeout": target.timeout})
    client = slack.connect(settings, token)
    text = f"**{message.title}**\n\n{message.body()}"
    try:
        return slack.post_message(client, str(target.slack), text)
    except Exception as exc:
        error = slack.translate(exc)
        raise _fail(target, str(error), retryable=error.retryable, unsure=error.unsure) from None


def _email(config: Config, target: TargetSettings, message: Message) -> dict[str, Any]:
    import smtplib
    from email.message import EmailMessage
    from email.utils import make_msgid

    smtp = config.notifications.smtp
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = smtp.from_
    mail["To"] = ", ".join(target.email or [])
    mail["Message-ID"] = make_msgid(domain="gorgon.local")
    mail["X-Gorgon-Event"] = message.event
    if message.run_id:
        mail["X-Gorgon-Run"] = message.run_id
    mail.set_content(message.body() + "\n")
    password = config.env.get(smtp.password_env) if smtp.password_env else None
    if smtp.password_env and not password:
        raise _fail(target, f"the mail server's password is not set: set {smtp.password_env}")
    timeout = min(smtp.timeout, target.timeout)
    try:
        connect = smtplib.SMTP_SSL if smtp.ssl else smtplib.SMTP
        with connect(smtp.host, smtp.port, timeout=timeout) as server:
            if smtp.starttls and not smtp.ssl:
                server.ehlo()
                if not server.has_extn("starttls"):
                    raise _fail(target, f"the mail server {smtp.host}:{smtp.port} does not offer STARTTLS; set "
                                        "starttls = false under [notifications.smtp] if it is a local relay")
                server.starttls(context=ssl.create_default_context())
            if smtp.user:
                server.login(smtp.user, password or "")
            refused = server.send_message(mail)
    except IntegrationError:
        raise
    except smtplib.SMTPAuthenticationError:
        raise _fail(target, f"the mail server refused the login of {smtp.user}: check the user and "
                            f"{smtp.password_env or 'password_env'}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise _fail(target, f"the mail server refused the recipients {', '.join(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:
        said = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        raise _fail(target, f"the mail server answered {exc.smtp_code}: {said}",
                    retryable=exc.smtp_code >= 400 and exc.smtp_code < 500) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise _fail(target, f"cannot reach the mail server {smtp.host}:{smtp.port} ({exc}); check "
                            "[notifications.smtp]", retryable=True) from None
    return {"success": True, "to": target.email, "refused": sorted(refused)}


def _webhook(config: Config, target: TargetSettings, message: Message, delivery: str) -> dict[str, Any]:
    import urllib.error
    import urllib.request

    body = json.dumps(message.to_dict(), ensure_ascii=False, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "gorgon-nb", "X-Gorgon-Event": message.event}
    if delivery:
        headers["X-Gorgon-Delivery"] = delivery
    if target.secret_env:
        secret = config.env.get(target.secret_env)
        if not secret:
            raise _fail(target, f"its signing secret is not set: set {target.secret_env}")
        headers[SIGNATURE_HEADER] = sign(secret, body)
    request = urllib.request.Request(str(target.webhook), data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=target.timeout) as response:
            return {"success": True, "status": response.status}
    except urllib.error.HTTPError as exc:
        raise _fail(target, f"the receiver answered HTTP {exc.code}",
                    retryable=exc.code >= 500 or exc.code in (408, 429)) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        # no connection: nothing was sent; a timeout or a dropped connection may come after it was
        sent = not isinstance(reason, ConnectionRefusedError | socket.gaierror)
        raise _fail(target, f"cannot reach it ({reason})" if not sent else f"it did not answer ({reason})",
                    retryable=True, unsure=sent) from None
