"""Anthropic's Messages API.

The ``anthropic`` SDK takes about a second to import, so it is imported on the first call,
not with this module. Its client is made once per provider and event loop, with
``max_retries=0``: retries belong to the executor. Every SDK exception is translated to a
``gorgon_nb.errors.ProviderError`` in ``_sdk_errors``, the one place that knows the SDK's
error classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import os
import re
import time
import weakref
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import (
    ContextLengthError,
    GorgonError,
    ModelNotFoundError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RateLimitError,
)
from gorgon_nb.model.usage import Usage
from gorgon_nb.providers.base import Completion, LLMRequest, TextCallback

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

__all__ = ["AnthropicProvider"]

_KEY_ENV = "ANTHROPIC_API_KEY"
_COUNT_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
# The API's wordings for a prompt that does not fit, e.g. "prompt is too long: 210000
# tokens > 200000 maximum" and "input length and `max_tokens` exceed context limit: ...".
_CONTEXT_WORDING = re.compile(r"prompt is too long|exceed context limit|context window", re.I)
# Error types that mean "the service had a problem", as sent in error bodies and events.
_UNAVAILABLE_TYPES = {"api_error", "overloaded_error", "timeout_error"}


class _CallbackFailed(Exception):
    """Carries an exception raised by ``on_delta`` past the SDK error translation."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class AnthropicProvider:
    """Claude models through the Anthropic API (key: ``api_key`` or ``ANTHROPIC_API_KEY``)."""

    def __init__(
        self,
        name: str = "anthropic",
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 600.0,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.timeout = timeout
        self._api_key = api_key
        self._sdk: AsyncAnthropic | None = None
        self._sdk_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None

    def __repr__(self) -> str:
        return f"AnthropicProvider(name={self.name!r}, base_url={self.base_url!r})"

    async def complete(
        self, request: LLMRequest, *, on_delta: TextCallback | None = None
    ) -> Completion:
        params = self._params(request)
        with self._sdk_errors(request.model):
            client = self._client()
            if on_delta is None:
                message = await client.messages.create(**params)
                text = "".join(block.text for block in message.content if block.type == "text")
                u = message.usage
                usage = _usage(
                    u.input_tokens,
                    u.output_tokens,
                    u.cache_read_input_tokens,
                    u.cache_creation_input_tokens,
                )
                return Completion(text, usage, message.model or request.model, message.stop_reason)
            return await self._stream(client, params, request.model, on_delta)

    async def aclose(self) -> None:
        """Close the HTTP connections (the provider makes new ones if used again)."""
        sdk, loop = self._sdk, self._sdk_loop() if self._sdk_loop else None
        self._sdk, self._sdk_loop = None, None
        # Connections opened on another loop cannot be closed from this one (that loop
        # is usually closed already); they are dropped with the client.
        if sdk is not None and loop is asyncio.get_running_loop():
            await sdk.close()

    async def _stream(
        self, client: AsyncAnthropic, params: dict[str, Any], model: str, on_delta: TextCallback
    ) -> Completion:
        pieces: list[str] = []
        counts: dict[str, int | None] = {}
        reported, stop_reason, finished = "", None, False
        # The raw event stream rather than messages.stream(): the helper hides an early
        # end (it hands back a partial message), and this loop must notice one.
        stream = await client.messages.create(**params, stream=True)
        async with stream:
            async for event in stream:
                if event.type == "message_start":
                    reported = event.message.model
                    counts |= {k: getattr(event.message.usage, k, None) for k in _COUNT_FIELDS}
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    pieces.append(event.delta.text)
                    _emit(on_delta, event.delta.text)
                elif event.type == "message_delta":
                    stop_reason = event.delta.stop_reason
                    # Counts on message_delta are running totals; absent ones keep their value.
                    for k in _COUNT_FIELDS:
                        if (value := getattr(event.usage, k, None)) is not None:
                            counts[k] = value
                elif event.type == "message_stop":
                    finished = True
        if not finished:
            raise ProviderUnavailable(
                f"The response stream from {self.name} was cut off before it finished (no "
                f"message_stop after {len(pieces)} text pieces); trying again may help.",
                provider=self.name,
                model=model,
            )
        usage = _usage(*(counts.get(k) for k in _COUNT_FIELDS))
        return Completion("".join(pieces), usage, reported or model, stop_reason)

    def _client(self) -> AsyncAnthropic:
        # A client's connections belong to the event loop that opened them, so a provider
        # used from a new loop (a new asyncio.run, a new test) gets a new client.
        loop = asyncio.get_running_loop()
        if self._sdk is None or self._sdk_loop is None or self._sdk_loop() is not loop:
            import anthropic

            self._sdk = anthropic.AsyncAnthropic(
                api_key=self._resolve_key(),
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=0,
                # The SDK's default HTTP client closes itself from __del__ on whichever
                # loop is running in the collecting thread; the plain one does not.
                http_client=anthropic.DefaultAsyncHttpxClient(),
            )
            self._sdk_loop = weakref.ref(loop)
        return self._sdk

    def _resolve_key(self) -> str:
        # An explicit key also stops the SDK from looking for profiles and config files.
        key = self._api_key or os.environ.get(_KEY_ENV)
        if key:
            return key
        raise ProviderAuthError(
            f"No API key for provider '{self.name}': set the {_KEY_ENV} environment variable "
            f"(or pass api_key= to the provider).",
            env_var=_KEY_ENV,
            provider=self.name,
        )

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.system:  # the API rejects an empty system prompt
            params["system"] = request.system
        # request.temperature is left out on purpose: API version 2026-10-21, which SDK 2.x
        # sends, answers 400 to any temperature, top_p or top_k (SDK 2.x dropped them too).
        if request.timeout is not None:
            params["timeout"] = request.timeout
        return params

    @contextlib.contextmanager
    def _sdk_errors(self, model: str) -> Iterator[None]:
        """Translate whatever the SDK raises inside the block into a ``ProviderError``."""
        import anthropic
        import httpx2

        try:
            yield
        except GorgonError:
            raise
        except _CallbackFailed as failed:
            raise failed.error from None
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc, model) from exc
        except (anthropic.APITimeoutError, httpx2.TimeoutException) as exc:
            # While a stream is read the SDK lets httpx2's own timeout through unwrapped.
            raise ProviderUnavailable(
                f"{self.name} did not answer in time; trying again may help, or raise the "
                f"step's timeout.",
                provider=self.name,
                model=model,
            ) from exc
        except anthropic.APIConnectionError as exc:
            raise ProviderUnavailable(
                f"Lost the connection to {self.name} at {self._where()}: "
                f"{str(exc.__cause__ or exc).rstrip('.')}; trying again may help.",
                provider=self.name,
                model=model,
            ) from exc
        except httpx2.TransportError as exc:
            # Raised unwrapped when the connection closes in the middle of a stream.
            raise ProviderUnavailable(
                f"The response stream from {self.name} was cut off ({exc}); trying again may help.",
                provider=self.name,
                model=model,
            ) from exc
        except (
            anthropic.AnthropicError,
            httpx2.HTTPError,
            httpx2.StreamError,
            json.JSONDecodeError,
        ) as exc:
            raise ProviderError(
                f"{self.name} call failed: {type(exc).__name__}: {exc}",
                provider=self.name,
                model=model,
            ) from exc

    def _status_error(self, exc: Any, model: str) -> ProviderError:
        status: int = exc.status_code
        kind = str(exc.type or "")
        detail = str(exc.api_message or exc.message)
        where: dict[str, Any] = {"provider": self.name, "model": model, "status": status}
        if status in (401, 403) or kind in {"authentication_error", "permission_error"}:
            return ProviderAuthError(
                f"{self.name} refused the API key (HTTP {status}): check the {_KEY_ENV} "
                f"environment variable (is it valid, and allowed to use model '{model}'?).",
                env_var=_KEY_ENV,
                **where,
            )
        if status == 429 or kind == "rate_limit_error":
            return RateLimitError(
                f"{self.name} is rate limiting requests (HTTP {status}): {detail}",
                retry_after=_retry_after(exc.response.headers),
                **where,
            )
        if status == 404 or kind == "not_found_error":
            return ModelNotFoundError(
                f"{self.name} does not know the model '{model}' ({detail}). Pick another model "
                f"in the step's or role's 'model:' (as '{self.name}:<model>', for example "
                f"'{self.name}:claude-sonnet-4-5').",
                **where,
            )
        if status == 413 or _CONTEXT_WORDING.search(detail):
            return ContextLengthError(
                f"The prompt is too long for '{model}' ({detail}). Shorten the context (fewer or "
                f"smaller inputs, a summary of earlier steps) or use a model with a bigger "
                f"context window.",
                **where,
            )
        if status >= 500 or kind in _UNAVAILABLE_TYPES:
            if status < 400:
                # An error event inside a stream that had started on an HTTP 200.
                where["status"] = None
                return ProviderUnavailable(
                    f"{self.name} failed in the middle of its answer ({kind}): {detail}", **where
                )
            return ProviderUnavailable(f"{self.name} failed (HTTP {status}): {detail}", **where)
        return ProviderError(f"{self.name} rejected the request (HTTP {status}): {detail}", **where)

    def _where(self) -> str:
        return self.base_url or "https://api.anthropic.com"


def _emit(on_delta: TextCallback, text: str) -> None:
    try:
        on_delta(text)
    except Exception as exc:
        raise _CallbackFailed(exc) from exc


def _usage(
    uncached: int | None, output: int | None, read: int | None, written: int | None
) -> Usage:
    # Anthropic's input_tokens leaves out the cached part; Usage.input_tokens counts it all.
    return Usage(
        input_tokens=(uncached or 0) + (read or 0) + (written or 0),
        output_tokens=output or 0,
        cache_read_tokens=read or 0,
        cache_write_tokens=written or 0,
        calls=1,
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``Retry-After`` (seconds or an HTTP date)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
