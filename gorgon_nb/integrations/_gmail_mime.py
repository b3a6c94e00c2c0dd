"""Reading Gmail's JSON payloads and writing addresses: decoded headers, the text of a
message from its MIME parts, HTML as text, and recipients checked before anything is sent."""

from __future__ import annotations

import base64
import binascii
import html
import re
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.utils import getaddresses
from typing import Any

from gorgon_nb.errors import IntegrationError

__all__ = ["body_text", "header_values", "html_to_text", "recipients"]

_BLOCKS = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.IGNORECASE)
_INVISIBLE = re.compile(r"<\s*(script|style|head)\b.*?<\s*/\s*\1\s*>", re.IGNORECASE | re.DOTALL)
_CHARSET = re.compile(r"charset\s*=\s*\"?([^\";\s]+)", re.IGNORECASE)


def _decoded(value: str) -> str:
    """A header's value with its RFC 2047 words (``=?utf-8?b?...?=``) decoded."""
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeDecodeError, ValueError):
        return value


def header_values(payload: dict[str, Any]) -> dict[str, str]:
    """The top-level headers of a payload by lower-case name, decoded (repeats joined)."""
    found: dict[str, str] = {}
    for header in payload.get("headers", []):
        name, value = str(header.get("name", "")).lower(), _decoded(str(header.get("value", "")))
        found[name] = f"{found[name]}, {value}" if name in found else value
    return found


def _data(part: dict[str, Any]) -> str:
    data = (part.get("body") or {}).get("data")
    if not data:
        return ""
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return ""
    content_type = header_values(part).get("content-type", "")
    charset = match.group(1) if (match := _CHARSET.search(content_type)) else "utf-8"
    try:
        text = raw.decode(charset, "replace")
    except LookupError:
        text = raw.decode("utf-8", "replace")
    return text.replace("\r\n", "\n").rstrip()


def body_text(payload: dict[str, Any]) -> tuple[str, str | None]:
    """The message's first text/plain part, and its first text/html part (None if it has
    none); attachments (parts with a file name) are not its text."""
    plain: list[str] = []
    markup: list[str] = []

    def walk(part: dict[str, Any]) -> None:
        kind = str(part.get("mimeType", "")).lower()
        if part.get("filename"):
            return
        if kind == "text/plain":
            plain.append(_data(part))
        elif kind == "text/html":
            markup.append(_data(part))
        for child in part.get("parts") or []:
            walk(child)

    walk(payload)
    return (plain[0] if plain else ""), (markup[0] if markup else None)


def html_to_text(markup: str) -> str:
    """HTML as readable text: scripts and styles dropped, line breaks kept, tags removed."""
    text = _BLOCKS.sub("\n", _INVISIBLE.sub("", markup))
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def recipients(value: str | list[str], field: str) -> str:
    """``value`` (an address, a comma-separated string or a list) as a header, each address checked."""
    given = [value] if isinstance(value, str) else [str(v) for v in value]
    found = getaddresses(given)
    if not found or any("@" not in address or "," in address for _name, address in found):
        raise IntegrationError(f"{field} must be email addresses (ann@example.com, or a list of them), "
                               f"not {value!r}", service="gmail")
    try:
        return ", ".join(str(Address(display_name=name, addr_spec=address)) for name, address in found)
    except (ValueError, IndexError) as exc:
        raise IntegrationError(f"{field}: {exc}; give addresses like ann@example.com", service="gmail") from None
