"""Keep secrets out of everything gorgon-nb writes: the store, events, logs, outputs.

Secret values are:

- the values of environment variables whose names look like credentials (``*_API_KEY``,
  ``*_TOKEN``, ``*_SECRET``, ``*PASSWORD*``);
- the values of the variables ``register_variable`` was given, whatever they are called:
  loading the config registers every ``api_key_env`` and ``token_env`` it names, and the
  well-known ``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``, ``GITHUB_TOKEN``, ``NOTION_TOKEN``
  and ``SLACK_BOT_TOKEN``;
- the values ``remember`` was given (a token written in the config file, a key a
  provider sends);
- and any text shaped like a well-known kind of key, wherever it turns up: ``sk-...``
  (OpenAI, Anthropic), ``xoxb-...`` and the other Slack tokens, ``ghp_...`` and
  ``github_pat_...`` (GitHub), ``secret_...`` and ``ntn_...`` (Notion).

``redact(text)`` is the one entry point: it replaces each of them with ``***``. Every
place that shows or keeps text it did not write itself (a model's answer, a provider's
error, a workflow file) passes it through ``redact`` first.

``scrub_logs()`` puts one ``logging.Filter`` on the loggers of the SDKs gorgon-nb drives
(and on gorgon-nb's own), so what they log passes through ``redact`` too: notion-client,
for one, logs the server's error message, which may quote the token. A filter on a
logger sees only the records made on that very logger, so it goes on each logger below
those names that exists when it is called; the providers and integrations call it again
once they have imported their SDK.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping

__all__ = ["SCRUBBED_LOGGERS", "WELL_KNOWN_VARIABLES", "RedactingFilter", "redact", "refresh", "register_variable",
           "remember", "scrub_logs", "secret_values", "without_secrets"]

WELL_KNOWN_VARIABLES = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GITHUB_TOKEN", "NOTION_TOKEN", "SLACK_BOT_TOKEN")
SCRUBBED_LOGGERS = ("gorgon_nb", "openai", "anthropic", "httpx2", "httpx", "httpcore", "notion_client", "slack_sdk",
                    "github", "urllib3")

_SECRET_NAME = re.compile(r"(API_KEY|_KEY$|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
# Tails long enough (and, for sk-, with a digit) that ordinary words and identifiers such as
# secret_key or task-list never match.
_KEY_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"sk-(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{20,}"
    r"|xox[abeoprs]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|secret_[A-Za-z0-9]{20,}|ntn_[A-Za-z0-9]{20,}"
    r")"
)
_MIN_LENGTH = 8  # shorter values would redact ordinary words
_REFRESH_SECONDS = 2.0
_cache: tuple[float, tuple[str, ...]] = (0.0, ())
_remembered: set[str] = set()
_variables: set[str] = set(WELL_KNOWN_VARIABLES)


def remember(value: str) -> None:
    """Treat ``value`` as a secret from now on (a token that is not in the environment)."""
    global _cache
    if len(value) >= _MIN_LENGTH and value not in _remembered:
        _remembered.add(value)
        _cache = (0.0, ())


def register_variable(name: str, env: Mapping[str, str] | None = None) -> None:
    """Treat the environment variable ``name`` as holding a secret, whatever it is called:
    its value in ``env`` now (when given), and whatever ``os.environ`` holds from now on."""
    global _cache
    if name and name not in _variables:
        _variables.add(name)
        _cache = (0.0, ())
    if env is not None and (value := env.get(name)):
        remember(value)


def refresh() -> None:
    """Read the environment again at the next ``redact`` (it is otherwise re-read every few
    seconds); loading the config does this."""
    global _cache
    _cache = (0.0, ())


def without_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the variables that hold secrets (the config's keys and tokens, and any
    name that says it holds one): what a command a model chose may see."""
    return {k: v for k, v in env.items() if k not in _variables and not _SECRET_NAME.search(k)}


def secret_values() -> tuple[str, ...]:
    """Current secret values, longest first; re-read from the environment every few seconds."""
    global _cache
    checked, values = _cache
    now = time.monotonic()
    if now - checked > _REFRESH_SECONDS:
        found = {v for k, v in os.environ.items()
                 if (k in _variables or _SECRET_NAME.search(k)) and len(v) >= _MIN_LENGTH}
        found |= _remembered
        values = tuple(sorted(found, key=len, reverse=True))
        _cache = (now, values)
    return values


def redact(text: str, mark: str = "***") -> str:
    """``text`` with every secret value, and everything shaped like a key, replaced by ``mark``."""
    for value in secret_values():
        if value in text:
            text = text.replace(value, mark)
    return _KEY_SHAPES.sub(mark, text)


class RedactingFilter(logging.Filter):
    """Passes every record, its message (and traceback) redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it in the handler
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def scrub_logs() -> None:
    """Put the redacting filter on each of ``SCRUBBED_LOGGERS`` and on every logger below
    them that exists now (once per logger; calling again reaches loggers made since)."""
    below = tuple(f"{root}." for root in SCRUBBED_LOGGERS)
    existing = [name for name, logger in list(logging.root.manager.loggerDict.items())
                if isinstance(logger, logging.Logger) and name.startswith(below)]
    for name in [*SCRUBBED_LOGGERS, *existing]:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
