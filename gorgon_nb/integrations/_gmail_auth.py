"""Gmail's credentials and transport: an OAuth token file read by google-auth, refreshed
when it has expired, and an HTTP client that never sends a request twice.

The token file is the authorized-user JSON that google-auth's
``Credentials.from_authorized_user_file`` reads (what ``InstalledAppFlow`` gives,
``creds.to_json()``): a refresh token, the OAuth client's id and secret, the token
endpoint and, once used, an access token. Its secrets are handed to ``gorgon_nb.secrets``
as soon as the file is read, so none of them is ever kept or shown.

google-api-python-client sends through httplib2 by default, which sends a request again
when the connection drops before the answer (a stale keep-alive connection, it assumes):
an email could go out twice. Requests go through google-auth's ``AuthorizedSession``
(requests, no retries) instead, behind the small ``request`` method the client calls.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import IntegrationError

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials

__all__ = ["SCOPES", "Transport", "load_credentials", "remake", "token_path"]

SCOPES = ("https://www.googleapis.com/auth/gmail.modify", "https://www.googleapis.com/auth/gmail.send")
_SECRET_FIELDS = ("token", "refresh_token", "client_secret")


def remake(why: str) -> str:
    """``why``, and how to make a new token file."""
    return (f"{why}. Make a token file once with google-auth-oauthlib: InstalledAppFlow.from_client_secrets_file("
            "'client_secret.json', SCOPES).run_local_server(), with SCOPES gmail.modify and gmail.send, and save "
            "creds.to_json() to the file (the README's Gmail section has the recipe); then point "
            "[integrations.gmail] token_file or GORGON_GMAIL_TOKEN_FILE at it")


def token_path(given: str) -> Path:
    return Path(os.path.expandvars(given)).expanduser()


def _fail(message: str) -> IntegrationError:
    return IntegrationError(message, service="gmail")


def load_credentials(given: str, token_url: str | None = None) -> Credentials:
    """The credentials in the token file ``given``, with every secret in it remembered.

    google-auth refreshes at Google's token endpoint whatever the file says (a file must not
    send the refresh token elsewhere); ``token_url``, from the config, names another one."""
    from google.oauth2.credentials import Credentials

    from gorgon_nb.secrets import remember

    path = token_path(given)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(remake(f"the Gmail token file {path} does not exist")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(remake(f"cannot read the Gmail token file {path} ({type(exc).__name__})")) from None
    except ValueError:
        raise _fail(remake(f"the Gmail token file {path} is not JSON")) from None
    if not isinstance(info, dict):
        raise _fail(remake(f"the Gmail token file {path} is not a token (a JSON object)"))
    for field in _SECRET_FIELDS:
        if isinstance(info.get(field), str) and info[field]:
            remember(info[field])
    try:
        credentials = Credentials.from_authorized_user_info(info)
    except ValueError as exc:
        # google-auth names the missing fields; it never quotes their values
        raise _fail(remake(f"the Gmail token file {path} is not an authorized-user token: {exc}")) from None
    if not token_url:
        return credentials
    moved: Credentials = credentials.with_token_uri(token_url)
    moved.expiry = credentials.expiry  # the copy forgets it, and an expired token would not be refreshed
    return moved


class Transport:
    """What google-api-python-client calls to send a request (httplib2's ``request``),
    done by google-auth's ``AuthorizedSession``: the access token is refreshed when it has
    expired or Gmail answers 401, and nothing is ever sent again after a dropped connection."""

    def __init__(self, credentials: Credentials, timeout: float) -> None:
        from google.auth.transport.requests import AuthorizedSession

        self.session = AuthorizedSession(credentials)
        self.timeout = timeout

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None,
                redirections: int = 5, connection_type: Any = None) -> tuple[Any, bytes]:
        import httplib2

        answer = self.session.request(method, uri, data=body, headers=headers, timeout=self.timeout,
                                      allow_redirects=redirections > 0)
        response = httplib2.Response({**{k.lower(): v for k, v in answer.headers.items()},
                                      "status": str(answer.status_code)})
        response.reason = answer.reason or ""
        return response, answer.content

    def close(self) -> None:
        self.session.close()
