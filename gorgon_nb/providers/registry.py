"""From a model reference (``auto``, ``anthropic:claude-sonnet-5-5``, ``ollama:llama3.1``) to a provider.

``auto`` resolves from the environment: an Anthropic key, then an OpenAI key, then an
OpenAI-compatible endpoint from the user's config file, then the offline provider (with
a one-line notice saying how to configure a real one). Providers are created lazily, so
an SDK is imported only when a step first uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gorgon_nb.config import Config, ProviderSettings
from gorgon_nb.errors import ConfigError, did_you_mean
from gorgon_nb.providers.base import Provider
from gorgon_nb.providers.plugins import plugin_problems, plugin_providers, plugin_settings

__all__ = ["ModelRef", "ProviderRegistry", "ProviderStatus", "check_model_ref", "parse_model_ref", "provider_statuses", "resolve_auto"]

OFFLINE_NOTICE = (
    "No LLM provider is configured, so the offline provider answers (canned, marked [offline]). "
    "Set ANTHROPIC_API_KEY or OPENAI_API_KEY, or add an OpenAI-compatible base_url to the config, "
    "for real answers."
)
_BARE_PREFIXES = {
    "claude": "anthropic",
    "gpt": "openai",
    "o1": "openai",
    "o3": "openai",
    "o4": "openai",
    "chatgpt": "openai",
}


@dataclass(frozen=True)
class ModelRef:
    provider: str
    model: str

    def __str__(self) -> str:
        return self.provider if self.model == self.provider else f"{self.provider}:{self.model}"


def resolve_auto(config: Config) -> tuple[ModelRef, str | None]:
    """The model ``auto`` means here and now, and a notice when that is the offline provider."""
    for name in ("anthropic", "openai"):
        settings = config.providers.get(name)
        if settings and settings.api_key_env and config.env.get(settings.api_key_env):
            return ModelRef(name, settings.model or ""), None
    for name in config.user_providers:
        settings = config.providers[name]
        if settings.kind == "openai-compatible" and settings.model:
            return ModelRef(name, settings.model), None
    return ModelRef("offline", "offline"), OFFLINE_NOTICE


def parse_model_ref(ref: str, config: Config) -> tuple[ModelRef, str | None]:
    """Parse ``ref``; return it and a notice (set when ``auto`` fell back to offline).

    ``auto`` (what a workflow that names no model asks for) is the configured default
    model (``[defaults] model``, or ``GORGON_MODEL``) unless that is ``auto`` too."""
    ref = ref.strip()
    if ref in ("", "auto"):
        configured = config.default_model.strip()
        if configured not in ("", "auto"):
            return parse_model_ref(configured, config)
        return resolve_auto(config)
    provider, sep, model = ref.partition(":")
    if not sep:
        if ref in config.providers or plugin_settings(ref, config):  # "anthropic" alone: its default model
            settings = config.providers[ref]
            if not settings.model:
                raise ConfigError(f"provider '{ref}' has no default model; write {ref}:MODEL")
            return ModelRef(ref, settings.model), None
        for prefix, name in _BARE_PREFIXES.items():
            if ref.startswith(prefix):
                return ModelRef(name, ref), None
        raise ConfigError(
            f"unknown model '{ref}': write provider:model, for example anthropic:claude-sonnet-5-5, "
            f"openai:gpt-5.5 or ollama:llama3.1 (providers: {', '.join(sorted(config.providers))})"
        )
    if provider not in config.providers and plugin_settings(provider, config) is None:
        hint = did_you_mean(provider, config.providers)
        raise ConfigError(
            f"unknown provider '{provider}' in model '{ref}'; {hint}. "
            "Add OpenAI-compatible servers under [providers.NAME] in the config file."
        )
    if not model:
        raise ConfigError(f"model '{ref}' names no model after '{provider}:'")
    return ModelRef(provider, model), None


def check_model_ref(ref: str, config: Config) -> str | None:
    """A validation message for a bad reference, or None."""
    try:
        parse_model_ref(ref, config)
    except ConfigError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class ProviderStatus:
    name: str
    kind: str
    model: str
    ready: bool
    detail: str


def provider_statuses(config: Config) -> list[ProviderStatus]:
    """Which providers can be used now, and what to do about the others."""
    statuses = []
    for name, settings in config.providers.items():
        if settings.kind == "plugin":
            continue  # listed with the other plugins below
        if settings.kind == "offline":
            ready, detail = True, "ready (canned answers, no key needed)"
        elif settings.kind == "openai-compatible":
            needs = settings.api_key_env and not config.env.get(settings.api_key_env)
            ready = not needs
            detail = f"endpoint {settings.base_url}" + (f"; set {settings.api_key_env}" if needs else "")
        elif settings.api_key_env and config.env.get(settings.api_key_env):
            ready, detail = True, f"ready ({settings.api_key_env} is set)"
        else:
            ready, detail = False, f"not configured: set {settings.api_key_env}"
        statuses.append(ProviderStatus(name, settings.kind, settings.model or "-", ready, detail))
    for name, (package, plugin) in plugin_providers().items():
        if name in config.providers and config.providers[name].kind != "plugin":
            continue  # the config's provider of that name is the one used
        needs = plugin.api_key_env and not config.env.get(plugin.api_key_env)
        detail = f"from {package}" + (f"; set {plugin.api_key_env}" if needs else "")
        statuses.append(ProviderStatus(name, "plugin", plugin.model or "-", not needs, detail))
    for problem in plugin_problems():
        statuses.append(ProviderStatus(problem.name, "plugin", "-", False,
                                       f"could not be loaded ({problem.value}): {problem.error}"))
    return statuses


class ProviderRegistry:
    """The provider instances of one process, created on first use."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._providers: dict[str, Provider] = {}

    def settings(self, name: str) -> ProviderSettings:
        return self.config.providers[name]

    def register(self, provider: Provider, settings: ProviderSettings | None = None) -> None:
        """Use ``provider`` for its name (tests and plugins add their own this way)."""
        self._providers[provider.name] = provider
        if settings is not None:
            self.config.providers[provider.name] = settings

    async def aclose(self) -> None:
        """Close the connections the providers opened on the running event loop."""
        for provider in self._providers.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()

    def get(self, name: str) -> Provider:
        if name not in self._providers:
            self._providers[name] = self._create(self.settings(name))
        return self._providers[name]

    def _create(self, settings: ProviderSettings) -> Provider:
        if settings.kind == "plugin":
            return plugin_providers()[settings.name][1].create(settings, self.config)
        if settings.kind == "offline":
            from gorgon_nb.providers.offline import OfflineProvider

            return OfflineProvider(delay=self.config.offline_delay)
        if settings.kind == "anthropic":
            from gorgon_nb.providers.anthropic import AnthropicProvider

            key = self.config.env.get(settings.api_key_env or "ANTHROPIC_API_KEY")
            return AnthropicProvider(
                name=settings.name,
                api_key=key,
                base_url=settings.base_url,
                timeout=settings.timeout,
            )
        from gorgon_nb.providers.openai import OpenAIProvider

        env_name = settings.api_key_env or ("OPENAI_API_KEY" if settings.kind == "openai" else "")
        return OpenAIProvider(
            name=settings.name,
            api_key=self.config.env.get(env_name) if env_name else None,
            base_url=settings.base_url,
            api_key_env=env_name,
            timeout=settings.timeout,
        )
