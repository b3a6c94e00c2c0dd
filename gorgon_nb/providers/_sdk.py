"""What the providers built on a vendor SDK (``anthropic``, ``openai``) have in common.

``SDKProvider`` holds one SDK client per provider and event loop (made with
``max_retries=0``: retries belong to the executor), resolves the API key, and translates
every SDK and HTTP exception into a ``gorgon_nb.errors.ProviderError`` in ``_sdk_errors``.
The key it sends is registered with ``gorgon_nb.secrets`` and every translated message is
scrubbed, so a server that echoes the key in an error body does not spread it; messages
name the URL the client really calls (the SDKs read ``OPENAI_BASE_URL`` and
``ANTHROPIC_BASE_URL`` themselves when no base URL is configured).
A vendor module supplies only what differs: building its client, the request and stream
code, its SDK's exception classes, and how its error answers name a kind of failure.

Nothing here imports an SDK: the vendor hooks do, on the first call, because the SDKs take
a noticeable time to import.
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
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any, ClassVar, Generic, Literal, NamedTuple, Protocol, TypeVar

from gorgon_nb.errors import (
    ContextLengthError,
    GorgonError,
    ModelNotFoundError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
    RateLimitError,
)
from gorgon_nb.providers.base import Completion, LLMRequest, TextCallback
from gorgon_nb.secrets import redact, remember, scrub_logs

__all__ = ["ErrorKind", "SDKErrors", "SDKProvider", "emit", "retry_after", "tool_arguments"]

# What an error answer says went wrong, beyond its HTTP status.
ErrorKind = Literal["auth", "rate_limit", "not_found", "context", "unavailable"]
# Providers whose endpoint is a hosted service, not a server the user runs.
_HOSTED = frozenset({"anthropic", "openai"})
# The variable each SDK reads its base URL from when it is given none.
_URL_ENVS = {"https://api.openai.com/v1": "OPENAI_BASE_URL", "https://api.anthropic.com": "ANTHROPIC_BASE_URL"}
_USERINFO = re.compile(r"(?<=//)[^/@]*@")


class _Closable(Protocol):
    async def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=_Closable)


class SDKErrors(NamedTuple):
    """The exception classes of one SDK that the translation tells apart."""

    status: type[Exception]  # APIStatusError: an HTTP error answer (or an error event)
    connection: type[Exception]  # APIConnectionError, the base of timeout
    timeout: type[Exception]  # APITimeoutError
    api: type[Exception]  # APIError, the base of the three above
    base: type[Exception]  # the root of everything the SDK raises

    @classmethod
    def of(cls, sdk: ModuleType, base: type[Exception]) -> SDKErrors:
        """The classes of ``sdk`` (both SDKs name them alike), with its root ``base``."""
        return cls(
            sdk.APIStatusError, sdk.APIConnectionError, sdk.APITimeoutError, sdk.APIError, base
        )


class _CallbackFailed(Exception):
    """Carries an exception raised by ``on_delta`` past the SDK error translation."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def emit(on_delta: TextCallback, text: str) -> None:
    """Hand ``text`` to ``on_delta``; what it raises reaches the caller untranslated."""
    try:
        on_delta(text)
    except Exception as exc:
        raise _CallbackFailed(exc) from exc


def tool_arguments(raw: Any) -> dict[str, Any]:
    """A tool call's arguments as the model sent them (a JSON text or an object), parsed;
    anything but a JSON object is ``{"__invalid__": raw}`` (the engine answers it as an error)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}  # a call without arguments may send ""
        except ValueError:
            return {"__invalid__": raw}
    return raw if isinstance(raw, dict) else {"__invalid__": json.dumps(raw)}


class SDKProvider(ABC, Generic[ClientT]):
    """The base of ``AnthropicProvider`` and ``OpenAIProvider``.

    The key is ``api_key``, else the ``api_key_env`` environment variable, else whatever
    ``_fallback_key`` allows (nothing, unless a vendor says otherwise).
    """

    default_base_url: ClassVar[str]
    # The variable named in the missing-key error when the provider reads none.
    default_key_env: ClassVar[str]
    # A model named in the unknown-model error as an example, if the vendor has one.
    example_model: ClassVar[str | None] = None

    def __init__(
        self, name: str, api_key: str | None, base_url: str | None, api_key_env: str, timeout: float
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.timeout = timeout
        self._api_key = api_key
        self._sdk: ClientT | None = None
        self._sdk_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._sdk_url: str | None = None  # the base URL the client was made with, as the SDK resolved it

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    async def complete(
        self, request: LLMRequest, *, on_delta: TextCallback | None = None
    ) -> Completion:
        params = self._params(request)
        if request.timeout is not None:
            params["timeout"] = request.timeout
        with self._sdk_errors(request.model):
            client = self._client()
            if on_delta is None:
                return await self._answer(client, params, request.model)
            return await self._stream(client, params, request.model, on_delta)

    async def aclose(self) -> None:
        """Close the HTTP connections (the provider makes new ones if used again)."""
        sdk, loop = self._sdk, self._sdk_loop() if self._sdk_loop else None
        self._sdk, self._sdk_loop = None, None
        # Connections opened on another loop cannot be closed from this one (that loop
        # is usually closed already); they are dropped with the client.
        if sdk is not None and loop is asyncio.get_running_loop():
            await sdk.close()

    # --- what each vendor supplies ---

    @abstractmethod
    def _params(self, request: LLMRequest) -> dict[str, Any]:
        """The SDK call's keyword arguments for ``request`` (``timeout`` is added to them)."""

    @abstractmethod
    async def _answer(self, client: ClientT, params: dict[str, Any], model: str) -> Completion:
        """One call without streaming."""

    @abstractmethod
    async def _stream(
        self, client: ClientT, params: dict[str, Any], model: str, on_delta: TextCallback
    ) -> Completion:
        """One streamed call; each text piece goes through ``emit(on_delta, ...)``."""

    @abstractmethod
    def _new_client(self, options: dict[str, Any]) -> ClientT:
        """The SDK client, made from ``options`` and the SDK's plain ``http_client``.

        The SDK's default HTTP client closes itself from ``__del__`` on whichever loop is
        running in the collecting thread; the plain one (``DefaultAsyncHttpxClient``) does not.
        """

    @abstractmethod
    def _error_classes(self) -> SDKErrors:
        """The SDK's exception classes (importing the SDK)."""

    @abstractmethod
    def _error_detail(self, exc: Any) -> str:
        """The server's own words from an ``APIStatusError``."""

    @abstractmethod
    def _error_kind(self, exc: Any, status: int, detail: str) -> ErrorKind | None:
        """What the error answer says went wrong, as far as the status alone does not."""

    def _fallback_key(self) -> str | None:
        """The key to send when none is configured, or None to fail."""
        return None

    def _api_error(self, exc: Exception, model: str) -> ProviderError:
        """An ``APIError`` that is neither an HTTP status nor a connection failure."""
        return self._call_failed(exc, model)

    # --- shared machinery ---

    def _client(self) -> ClientT:
        # A client's connections belong to the event loop that opened them, so a provider
        # used from a new loop (a new asyncio.run, a new test) gets a new client.
        loop = asyncio.get_running_loop()
        if self._sdk is None or self._sdk_loop is None or self._sdk_loop() is not loop:
            # An explicit key also stops the SDK from looking for profiles and config files.
            options = {
                "api_key": self._resolve_key(),
                "base_url": self.base_url,
                "timeout": self.timeout,
                "max_retries": 0,
            }
            self._sdk = self._new_client(options)
            self._sdk_loop = weakref.ref(loop)
            self._sdk_url = str(getattr(self._sdk, "base_url", "") or "").rstrip("/") or None
            scrub_logs()  # the SDK is imported now, and so are its loggers
        return self._sdk

    def _resolve_key(self) -> str:
        env = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key := self._api_key or env:
            remember(key)  # whatever its variable is called, it never reaches an output
            return key
        if key := self._fallback_key():
            return key
        variable = self.api_key_env or self.default_key_env
        raise ProviderAuthError(
            f"No API key for provider '{self.name}': set the {variable} environment variable "
            f"(or pass api_key= to the provider).",
            env_var=variable,
            provider=self.name,
        )

    def _where(self) -> str:
        """The base URL calls go to (without any user name, password or query in it)."""
        url = self._sdk_url or self.base_url or self.default_base_url
        return _USERINFO.sub("", url.split("?", 1)[0])

    def _url_from_env(self) -> str | None:
        """The variable the SDK took its base URL from, if it did."""
        variable = _URL_ENVS.get(self.default_base_url)
        if self.base_url is None and variable and os.environ.get(variable) and self._sdk_url:
            return variable
        return None

    @contextlib.contextmanager
    def _sdk_errors(self, model: str) -> Iterator[None]:
        """Translate whatever the SDK raises inside the block into a ``ProviderError``."""
        import httpx2

        sdk = self._error_classes()
        try:
            yield
        except GorgonError:
            raise
        except _CallbackFailed as failed:
            raise failed.error from None
        except sdk.status as exc:
            raise _scrubbed(self._status_error(exc, model)) from exc
        except (sdk.connection, httpx2.TransportError) as exc:
            # httpx2's own errors come through unwrapped while a stream is read.
            raise _scrubbed(self._transport_error(exc, model, sdk)) from exc
        except sdk.api as exc:
            raise _scrubbed(self._api_error(exc, model)) from exc
        except (sdk.base, httpx2.HTTPError, httpx2.StreamError, json.JSONDecodeError) as exc:
            raise _scrubbed(self._call_failed(exc, model)) from exc

    def _call_failed(self, exc: Exception, model: str) -> ProviderError:
        return ProviderError(
            f"{self.name} call failed: {type(exc).__name__}: {exc}", provider=self.name, model=model
        )

    def _status_error(self, exc: Any, model: str) -> ProviderError:
        status: int = exc.status_code
        detail = self._error_detail(exc)
        kind = self._error_kind(exc, status, detail)
        where: dict[str, Any] = {"provider": self.name, "model": model, "status": status}
        if status in (401, 403) or kind == "auth":
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
        if status == 429 or kind == "rate_limit":
            return RateLimitError(
                f"{self.name} is rate limiting requests (HTTP {status}): {detail}",
                retry_after=retry_after(exc.response.headers),
                **where,
            )
        if status == 404 or kind == "not_found":
            return ModelNotFoundError(
                f"{self.name} does not know the model '{model}' (HTTP {status}: {detail}). "
                f"{self._model_advice()}",
                **where,
            )
        if kind == "context":
            return ContextLengthError(
                f"The prompt is too long for '{model}' ({detail}). Shorten the context (fewer or "
                f"smaller inputs, a summary of earlier steps) or use a model with a bigger "
                f"context window.",
                **where,
            )
        if status >= 500 or kind == "unavailable":
            return ProviderUnavailable(f"{self.name} failed (HTTP {status}): {detail}", **where)
        return ProviderError(f"{self.name} rejected the request (HTTP {status}): {detail}", **where)

    def _model_advice(self) -> str:
        form = f"as '{self.name}:<model>'"
        if self.example_model:
            form += f", for example '{self.name}:{self.example_model}'"
        advice = f"Pick another model in the step's or role's 'model:' ({form})"
        if self.base_url or self._url_from_env():
            advice += f"; if every model fails, check the base URL {self._where()}"
        return advice + "."

    def _transport_error(self, exc: Exception, model: str, sdk: SDKErrors) -> ProviderUnavailable:
        import httpx2

        where: dict[str, Any] = {"provider": self.name, "model": model}
        wrapped = isinstance(exc, sdk.connection)
        cause = exc.__cause__ if wrapped and exc.__cause__ is not None else exc
        if isinstance(cause, httpx2.ConnectError | httpx2.ConnectTimeout):
            # No connection was made at all: nothing was sent, no stream was running.
            reason = str(cause).rstrip(".") or type(cause).__name__
            return ProviderUnavailable(
                f"Cannot connect to {self.name} at {self._where()} ({reason}). "
                f"{self._connect_advice()}",
                **where,
            )
        if isinstance(exc, sdk.timeout | httpx2.TimeoutException):
            return ProviderUnavailable(
                f"{self.name} did not answer in time; trying again may help, or raise the "
                f"step's timeout.",
                **where,
            )
        if not wrapped:
            # A bare httpx2 error: the connection closed in the middle of a stream.
            return ProviderUnavailable(
                f"The response stream from {self.name} was cut off ({exc}); trying again may help.",
                **where,
            )
        return ProviderUnavailable(
            f"Lost the connection to {self.name} at {self._where()}: {str(cause).rstrip('.')}. "
            f"If a stream was running, it was cut off; trying again may help.",
            **where,
        )

    def _connect_advice(self) -> str:
        config = f"base_url under [providers.{self.name}] in the config"
        if variable := self._url_from_env():
            return f"The URL comes from {variable}: is a server running there? Start it, or fix or unset {variable}."
        if self.name == "ollama":
            return (
                f"Is the server running? Start it (ollama serve), or point OLLAMA_HOST (or the "
                f"{config}) at a running one."
            )
        if self.name in _HOSTED or self.base_url is None:
            return f"Check the network connection (and any proxy), or the {config} if one is set."
        return f"Is the server running? Start it, or point the {config} at a running one."

    def _stream_cut_off(self, model: str, missing: str, pieces: int) -> ProviderUnavailable:
        """The error for a stream that ended cleanly but early (no ``missing`` at its end)."""
        return ProviderUnavailable(
            f"The response stream from {self.name} was cut off before it finished (no {missing} "
            f"after {pieces} text pieces); trying again may help.",
            provider=self.name,
            model=model,
        )


def _scrubbed(error: ProviderError) -> ProviderError:
    """``error`` with any secret in its message (a key echoed by the server) replaced."""
    error.args = tuple(redact(part) if isinstance(part, str) else part for part in error.args)
    return error


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
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
