"""OpenAI chat completions, and any OpenAI-compatible endpoint (Ollama, vLLM, LM Studio).

The ``openai`` SDK is imported on the first call, not with this module. Its client is made
once per provider and event loop, with ``max_retries=0``: retries belong to the executor.
Every SDK exception is translated to a ``gorgon_nb.errors.ProviderError`` in
``_sdk_errors``, the one place that knows the SDK's error classes.
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
    from openai import AsyncOpenAI
    from openai.types import CompletionUsage

__all__ = ["OpenAIProvider"]

# A compatible server without authentication still needs some key: the SDK refuses none.
_PLACEHOLDER_KEY = "not-needed"
_NO_KEY_ENVS = ("", "OPENAI_API_KEY")
_CONTEXT_WORDING = re.compile(
    r"context[ _]length|context window|too many tokens|prompt is too long", re.I
)


class _CallbackFailed(Exception):
    """Carries an exception raised by ``on_delta`` past the SDK error translation."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class OpenAIProvider:
    """The OpenAI API, or an OpenAI-compatible one at ``base_url``.

    The key is ``api_key``, else the ``api_key_env`` environment variable. A provider with
    another ``name`` and a ``base_url`` (a local Ollama or vLLM) may go without: it then
    sends a placeholder key.
    """

    def __init__(
        self,
        name: str = "openai",
        api_key: str | None = None,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 600.0,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.api_key_env = api_key_env or ""
        self.timeout = timeout
        self._api_key = api_key
        self._sdk: AsyncOpenAI | None = None
        self._sdk_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None

    def __repr__(self) -> str:
        return f"OpenAIProvider(name={self.name!r}, base_url={self.base_url!r})"

    async def complete(
        self, request: LLMRequest, *, on_delta: TextCallback | None = None
    ) -> Completion:
        params = self._params(request)
        with self._sdk_errors(request.model):
            client = self._client()
            if on_delta is None:
                response = await client.chat.completions.create(**params, stream=False)
                if not response.choices:
                    raise ProviderError(
                        f"{self.name} returned no answer (an empty 'choices' list).",
                        provider=self.name,
                        model=request.model,
                    )
                choice = response.choices[0]
                return Completion(
                    text=choice.message.content or "",
                    usage=_usage(response.usage),
                    model=response.model or request.model,
                    finish_reason=choice.finish_reason,
                )
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
        self, client: AsyncOpenAI, params: dict[str, Any], model: str, on_delta: TextCallback
    ) -> Completion:
        pieces: list[str] = []
        finish: str | None = None
        usage: CompletionUsage | None = None
        reported = ""
        stream = await client.chat.completions.create(
            **params, stream=True, stream_options={"include_usage": True}
        )
        async with stream:
            async for chunk in stream:
                reported = reported or chunk.model
                usage = chunk.usage or usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish = choice.finish_reason or finish
                if text := choice.delta.content:
                    pieces.append(text)
                    _emit(on_delta, text)
        # A stream closed cleanly but early ends without error; only the finish reason
        # tells it apart from a complete one (usage may be missing on compatible servers).
        if finish is None:
            raise ProviderUnavailable(
                f"The response stream from {self.name} was cut off before it finished "
                f"(no finish reason after {len(pieces)} text pieces); trying again may help.",
                provider=self.name,
                model=model,
            )
        return Completion("".join(pieces), _usage(usage), reported or model, finish)

    def _client(self) -> AsyncOpenAI:
        # A client's connections belong to the event loop that opened them, so a provider
        # used from a new loop (a new asyncio.run, a new test) gets a new client.
        loop = asyncio.get_running_loop()
        if self._sdk is None or self._sdk_loop is None or self._sdk_loop() is not loop:
            import openai

            self._sdk = openai.AsyncOpenAI(
                api_key=self._resolve_key(),
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=0,
                # The SDK's default HTTP client closes itself from __del__ on whichever
                # loop is running in the collecting thread; the plain one does not.
                http_client=openai.DefaultAsyncHttpxClient(),
            )
            self._sdk_loop = weakref.ref(loop)
        return self._sdk

    def _resolve_key(self) -> str:
        if self._api_key:
            return self._api_key
        if self.api_key_env and (key := os.environ.get(self.api_key_env)):
            return key
        # A compatible endpoint (another name, a base URL) with no key variable of its own
        # is taken to need no key; one with its own variable gets the error below.
        if self.base_url is not None and self.name != "openai" and self.api_key_env in _NO_KEY_ENVS:
            return _PLACEHOLDER_KEY
        variable = self.api_key_env or "OPENAI_API_KEY"
        raise ProviderAuthError(
            f"No API key for provider '{self.name}': set the {variable} environment variable "
            f"(or pass api_key= to the provider).",
            env_var=variable,
            provider=self.name,
        )

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        # OpenAI deprecated max_tokens and refuses it for reasoning models; compatible
        # servers (Ollama, vLLM, llama.cpp) have supported max_tokens for longer.
        limit = "max_completion_tokens" if self.name == "openai" else "max_tokens"
        params: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            limit: request.max_tokens,
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.timeout is not None:
            params["timeout"] = request.timeout
        return params

    @contextlib.contextmanager
    def _sdk_errors(self, model: str) -> Iterator[None]:
        """Translate whatever the SDK raises inside the block into a ``ProviderError``."""
        import httpx2
        import openai

        try:
            yield
        except GorgonError:
            raise
        except _CallbackFailed as failed:
            raise failed.error from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc.status_code, exc, model) from exc
        except openai.APITimeoutError as exc:
            raise ProviderUnavailable(
                f"{self.name} did not answer in time ({exc.message}); trying again may help, "
                f"or raise the step's timeout.",
                provider=self.name,
                model=model,
            ) from exc
        except (openai.APIConnectionError, httpx2.TransportError) as exc:
            cause = str(exc.__cause__ or exc).rstrip(".")
            raise ProviderUnavailable(
                f"Lost the connection to {self.name} at {self._where()}: {cause}. If a stream "
                f"was running, it was cut off; trying again may help.",
                provider=self.name,
                model=model,
            ) from exc
        except openai.APIError as exc:
            # An error event inside a stream that had started: there is no HTTP status.
            kind = str(exc.type or "")
            error_cls = (
                ProviderUnavailable
                if kind in {"server_error", "overloaded_error"}
                else ProviderError
            )
            raise error_cls(
                f"{self.name} reported an error in the middle of its answer: {exc.message}",
                provider=self.name,
                model=model,
            ) from exc
        except (
            openai.OpenAIError,
            httpx2.HTTPError,
            httpx2.StreamError,
            json.JSONDecodeError,
        ) as exc:
            raise ProviderError(
                f"{self.name} call failed: {type(exc).__name__}: {exc}",
                provider=self.name,
                model=model,
            ) from exc

    def _status_error(self, status: int, exc: Any, model: str) -> ProviderError:
        where: dict[str, Any] = {"provider": self.name, "model": model, "status": status}
        # The SDK's message repeats the status ("Error code: 429 - ..."); the body's is plainer.
        body = getattr(exc, "body", None)
        detail = body.get("message") if isinstance(body, dict) else None
        detail = detail if isinstance(detail, str) else str(getattr(exc, "message", "") or "")
        code = str(getattr(exc, "code", "") or "")
        if status in (401, 403):
            # The server's wording may quote part of the key, so it is left out.
            check = (
                f"check the {self.api_key_env} environment variable"
                if self.api_key_env
                else "check the api_key"
            )
            return ProviderAuthError(
                f"{self.name} refused the API key (HTTP {status}): {check} (is it valid, and "
                f"allowed to use model '{model}'?).",
                env_var=self.api_key_env,
                **where,
            )
        if status == 429:
            return RateLimitError(
                f"{self.name} is rate limiting requests (HTTP 429): {detail}",
                retry_after=_retry_after(exc.response.headers),
                **where,
            )
        if status == 404:
            return ModelNotFoundError(
                f"{self.name} does not know the model '{model}' (HTTP 404: {detail}). Pick another "
                f"model in the step's or role's 'model:' (as '{self.name}:<model>'); if every model "
                f"fails, check the base URL {self._where()}.",
                **where,
            )
        if code == "context_length_exceeded" or (
            status in (400, 413) and _CONTEXT_WORDING.search(detail)
        ):
            return ContextLengthError(
                f"The prompt is too long for '{model}' ({detail}). Shorten the context (fewer or "
                f"smaller inputs, a summary of earlier steps) or use a model with a bigger "
                f"context window.",
                **where,
            )
        if status >= 500 or status in (408, 409):
            return ProviderUnavailable(f"{self.name} failed (HTTP {status}): {detail}", **where)
        return ProviderError(f"{self.name} rejected the request (HTTP {status}): {detail}", **where)

    def _where(self) -> str:
        return self.base_url or "https://api.openai.com/v1"


def _emit(on_delta: TextCallback, text: str) -> None:
    try:
        on_delta(text)
    except Exception as exc:
        raise _CallbackFailed(exc) from exc


def _usage(usage: CompletionUsage | None) -> Usage:
    if usage is None:
        return Usage(calls=1)
    details = usage.prompt_tokens_details
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
        cache_read_tokens=(details.cached_tokens or 0) if details else 0,
        cache_write_tokens=(getattr(details, "cache_write_tokens", None) or 0) if details else 0,
        calls=1,
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or a date)."""
    with contextlib.suppress(TypeError, ValueError):
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
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
