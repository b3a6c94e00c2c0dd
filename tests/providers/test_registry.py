"""Model references, the provider registry, and prices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gorgon_nb.config import Config, ProviderSettings, load_config
from gorgon_nb.errors import ConfigError
from gorgon_nb.model.usage import Usage
from gorgon_nb.providers.base import Provider
from gorgon_nb.providers.offline import OfflineProvider
from gorgon_nb.providers.pricing import price_usage, unit_prices
from gorgon_nb.providers.registry import (
    OFFLINE_NOTICE,
    ModelRef,
    ProviderRegistry,
    check_model_ref,
    parse_model_ref,
    resolve_auto,
)

VLLM = """
[providers.vllm]
kind = "openai-compatible"
base_url = "http://gpu-box:8000/v1"
model = "Qwen/Qwen3-32B"
"""
ANTHROPIC_KEY = {"ANTHROPIC_API_KEY": "sk-ant-test-000000000000"}
OPENAI_KEY = {"OPENAI_API_KEY": "sk-test-000000000000"}


def configured(home: Path, env: dict[str, str], config_text: str | None = None) -> Config:
    if config_text is not None:
        (home / "config.toml").write_text(config_text, encoding="utf-8")
    return load_config(env={"GORGON_HOME": str(home), **env})


@pytest.mark.parametrize(
    ("ref", "env", "config_text", "expected"),
    [
        ("auto", {}, None, ModelRef("offline", "offline")),
        ("", {}, None, ModelRef("offline", "offline")),
        ("  auto ", {}, None, ModelRef("offline", "offline")),
        ("auto", ANTHROPIC_KEY, None, ModelRef("anthropic", "claude-sonnet-5-5")),
        ("auto", OPENAI_KEY, None, ModelRef("openai", "gpt-5.5")),
        ("auto", {**OPENAI_KEY, **ANTHROPIC_KEY}, None, ModelRef("anthropic", "claude-sonnet-5-5")),
        (
            "auto",
            {"ANTHROPIC_API_KEY": ""},
            None,
            ModelRef("offline", "offline"),
        ),  # set but empty: not a key
        ("auto", {}, VLLM, ModelRef("vllm", "Qwen/Qwen3-32B")),
        ("auto", OPENAI_KEY, VLLM, ModelRef("openai", "gpt-5.5")),  # a key comes before an endpoint
        ("anthropic", {}, None, ModelRef("anthropic", "claude-sonnet-5-5")),
        ("openai", {}, None, ModelRef("openai", "gpt-5.5")),
        ("ollama", {}, None, ModelRef("ollama", "llama3.1")),
        ("offline", {}, None, ModelRef("offline", "offline")),
        ("vllm", {}, VLLM, ModelRef("vllm", "Qwen/Qwen3-32B")),
        ("claude-x", {}, None, ModelRef("anthropic", "claude-x")),
        ("gpt-4o-mini", {}, None, ModelRef("openai", "gpt-4o-mini")),
        ("o3-mini", {}, None, ModelRef("openai", "o3-mini")),
        ("anthropic:claude-opus-5", {}, None, ModelRef("anthropic", "claude-opus-5")),
        ("ollama:llama3.1:8b", {}, None, ModelRef("ollama", "llama3.1:8b")),
        ("vllm:meta/llama-4", {}, VLLM, ModelRef("vllm", "meta/llama-4")),
    ],
)
def test_parse_model_ref(
    home: Path, ref: str, env: dict[str, str], config_text: str | None, expected: ModelRef
) -> None:
    config = configured(home, env, config_text)
    model, notice = parse_model_ref(ref, config)
    assert model == expected
    if expected.provider == "offline" and ref.strip() in ("", "auto"):
        assert notice == OFFLINE_NOTICE
        assert "ANTHROPIC_API_KEY" in notice and "[offline]" in notice
    else:
        assert notice is None
    assert check_model_ref(ref, config) is None


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (
            "antropic:claude-x",
            "unknown provider 'antropic' in model 'antropic:claude-x'; did you mean 'anthropic'?",
        ),
        (
            "olama:llama3.1",
            "unknown provider 'olama' in model 'olama:llama3.1'; did you mean 'ollama'?",
        ),
        (
            "foo",
            "unknown model 'foo': write provider:model, for example anthropic:claude-sonnet-5-5",
        ),
        ("anthropic:", "model 'anthropic:' names no model after 'anthropic:'"),
    ],
)
def test_bad_model_refs(config: Config, ref: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_model_ref(ref, config)
    assert str(caught.value).startswith(message)
    assert check_model_ref(ref, config) == str(caught.value)


def test_an_unknown_bare_model_lists_the_providers(config: Config) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_model_ref("foo", config)
    assert "(providers: anthropic, offline, ollama, openai)" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse_model_ref("zzz:model", config)
    assert "known: anthropic, offline, ollama, openai" in str(caught.value)
    assert "[providers.NAME]" in str(caught.value)


def test_a_provider_without_a_default_model(home: Path) -> None:
    config = configured(home, {}, '[providers.bare]\nbase_url = "http://x:1/v1"\n')
    with pytest.raises(ConfigError, match="provider 'bare' has no default model; write bare:MODEL"):
        parse_model_ref("bare", config)
    assert parse_model_ref("bare:m", config) == (ModelRef("bare", "m"), None)
    assert resolve_auto(config)[0] == ModelRef("offline", "offline")  # no model: auto cannot use it


@pytest.mark.parametrize(
    ("ref", "text"),
    [
        (ModelRef("anthropic", "claude-x"), "anthropic:claude-x"),
        (ModelRef("offline", "offline"), "offline"),
        (ModelRef("ollama", "llama3.1:8b"), "ollama:llama3.1:8b"),
    ],
)
def test_model_ref_prints_as_it_is_written(ref: ModelRef, text: str) -> None:
    assert str(ref) == text


# -- the registry ---------------------------------------------------------------------------


def test_the_registry_creates_the_offline_provider_once(config: Config) -> None:
    config.offline_delay = 0.25
    registry = ProviderRegistry(config)
    provider = registry.get("offline")
    assert isinstance(provider, OfflineProvider) and isinstance(provider, Provider)
    assert provider.name == "offline" and provider.delay == 0.25
    assert registry.get("offline") is provider
    assert registry.settings("offline") == config.providers["offline"]


def test_a_registered_provider_is_used_for_its_name(config: Config) -> None:
    registry = ProviderRegistry(config)
    mine = OfflineProvider()
    mine.name = "house"
    settings = ProviderSettings(name="house", kind="offline", model="house", free=True)
    registry.register(mine, settings)
    assert registry.get("house") is mine
    assert config.providers["house"] == settings


def test_unknown_provider_names_are_a_key_error(config: Config) -> None:
    with pytest.raises(KeyError):
        ProviderRegistry(config).get("nope")


def test_importing_the_registry_does_not_import_the_sdks() -> None:
    code = (
        "import sys; import gorgon_nb.providers.registry, gorgon_nb.providers.pricing; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('anthropic', 'openai', 'genai_prices')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- prices ---------------------------------------------------------------------------------


def call(input_tokens: int = 1000, output_tokens: int = 500) -> Usage:
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens, calls=1)


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("anthropic", "claude-sonnet-5-5"),  # the default models are priced
        ("openai", "gpt-5.5"),
        ("anthropic", "claude-sonnet-4-5"),
        ("openai", "gpt-4o-mini"),
    ],
)
def test_known_models_get_a_positive_cost(config: Config, provider: str, model: str) -> None:
    settings = config.providers[provider]
    usage = price_usage(settings, model, call())
    assert usage.cost_usd > 0 and usage.unpriced_calls == 0
    assert usage.cost == usage.cost_usd
    more = price_usage(settings, model, call(2000, 1000))
    assert more.cost_usd == pytest.approx(2 * usage.cost_usd)
    prices = unit_prices(settings, model)
    assert prices is not None
    per_input, per_output = prices
    assert 0 < per_input < per_output


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("anthropic", "claude-does-not-exist-9"),
        ("openai", "gpt-imaginary"),
    ],
)
def test_unknown_models_stay_unpriced(config: Config, provider: str, model: str) -> None:
    usage = price_usage(config.providers[provider], model, call())
    assert (usage.cost_usd, usage.unpriced_calls) == (0.0, 1)
    assert usage.cost is None
    assert unit_prices(config.providers[provider], model) is None


def test_an_unknown_endpoint_stays_unpriced(home: Path) -> None:
    config = configured(home, {}, VLLM)
    usage = price_usage(config.providers["vllm"], "Qwen/Qwen3-32B", call())
    assert usage.cost is None and usage.unpriced_calls == 1


def test_unpriced_calls_keep_a_total_from_looking_complete(config: Config) -> None:
    known = price_usage(config.providers["openai"], "gpt-4o-mini", call())
    unknown = price_usage(config.providers["openai"], "gpt-imaginary", call())
    total = known + unknown
    assert total.cost == known.cost_usd and total.unpriced_calls == 1 and total.calls == 2


@pytest.mark.parametrize("provider", ["ollama", "offline"])
def test_free_providers_cost_nothing(config: Config, provider: str) -> None:
    usage = price_usage(config.providers[provider], "any-model", call())
    assert usage.cost == 0.0 and usage.unpriced_calls == 0
    assert unit_prices(config.providers[provider], "any-model") == (0.0, 0.0)


def test_unit_prices_match_the_price_of_an_ordinary_call(config: Config) -> None:
    settings = config.providers["anthropic"]
    prices = unit_prices(settings, "claude-sonnet-4-5")
    assert prices is not None
    ordinary = price_usage(settings, "claude-sonnet-4-5", call(10_000, 0))
    assert prices[0] * 10_000 == pytest.approx(ordinary.cost_usd)
