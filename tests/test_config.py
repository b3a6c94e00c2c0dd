"""Settings: built-in defaults, the user's config.toml, and the environment on top."""

from __future__ import annotations

from pathlib import Path

import pytest

from gorgon_nb.config import load_config
from gorgon_nb.errors import ConfigError
from gorgon_nb.roles import builtin_roles


def write(home: Path, text: str, name: str = "config.toml") -> Path:
    path = home / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(home: Path) -> None:
    config = load_config(env={"GORGON_HOME": str(home)})
    assert config.home == home and config.file is None
    assert config.db_path == home / "gorgon.db"
    assert config.default_model == "auto"
    assert list(config.providers) == ["anthropic", "openai", "ollama", "offline"]
    assert config.user_providers == ()
    anthropic, openai, ollama, offline = config.providers.values()
    assert (anthropic.kind, anthropic.model, anthropic.api_key_env) == (
        "anthropic",
        "claude-sonnet-5-5",
        "ANTHROPIC_API_KEY",
    )
    assert (openai.kind, openai.model, openai.api_key_env) == (
        "openai",
        "gpt-5.5",
        "OPENAI_API_KEY",
    )
    assert (ollama.kind, ollama.base_url, ollama.free) == (
        "openai-compatible",
        "http://localhost:11434/v1",
        True,
    )
    assert (offline.kind, offline.free) == ("offline", True)
    assert all(name == settings.name for name, settings in config.providers.items())
    assert config.roles == builtin_roles()
    assert config.offline_delay == 0.0


def test_the_environment_of_the_process_is_used_by_default(home: Path) -> None:
    config = load_config()
    assert config.home == home and config.db_path == home / "gorgon.db"


def test_a_user_config_adds_a_provider_and_changes_roles(home: Path) -> None:
    path = write(
        home,
        """
[defaults]
model = "vllm:Qwen/Qwen3-32B"

[providers.vllm]
kind = "openai-compatible"
base_url = "http://gpu-box:8000/v1"
model = "Qwen/Qwen3-32B"
api_key_env = "VLLM_API_KEY"
concurrency = 16

[providers.anthropic]
model = "claude-haiku-5"

[roles.planner]
system_prompt = "You plan in exactly three steps."

[roles.security_reviewer]
description = "Reviews code for security problems"
system_prompt = "You are a security reviewer."
icon = "🛡"

[offline]
delay = 0.05
""",
    )
    config = load_config(env={"GORGON_HOME": str(home)})
    assert config.file == path
    assert config.default_model == "vllm:Qwen/Qwen3-32B"
    vllm = config.providers["vllm"]
    assert (
        vllm.kind,
        vllm.base_url,
        vllm.model,
        vllm.api_key_env,
        vllm.concurrency,
        vllm.free,
    ) == (
        "openai-compatible",
        "http://gpu-box:8000/v1",
        "Qwen/Qwen3-32B",
        "VLLM_API_KEY",
        16,
        False,
    )
    assert config.user_providers == ("vllm",)
    anthropic = config.providers["anthropic"]  # only the model changed
    assert (anthropic.model, anthropic.kind, anthropic.api_key_env) == (
        "claude-haiku-5",
        "anthropic",
        "ANTHROPIC_API_KEY",
    )
    planner, builtin = config.roles["planner"], builtin_roles()["planner"]
    assert planner.system_prompt == "You plan in exactly three steps."
    assert (planner.description, planner.icon) == (builtin.description, builtin.icon)
    assert config.roles["security_reviewer"].icon == "🛡"
    assert len(config.roles) == len(builtin_roles()) + 1
    assert config.offline_delay == 0.05


def test_invalid_toml_names_the_file(home: Path) -> None:
    path = write(home, "[defaults]\nmodel = auto\n")
    with pytest.raises(ConfigError) as caught:
        load_config(env={"GORGON_HOME": str(home)})
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid TOML: ")
    assert "line 2" in message and "Fix the file or move it aside." in message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[defautls]\nmodel = 'auto'\n", "defautls"),
        ("[defaults]\nmodle = 'auto'\n", "defaults.modle"),
        ("[providers.anthropic]\nmodle = 'claude-x'\n", "providers.anthropic.modle"),
        ("[providers.anthropic]\nconcurrency = 0\n", "providers.anthropic.concurrency"),
        (
            "[providers.local]\nkind = 'llamacpp'\nbase_url = 'http://x/v1'\n",
            "providers.local.kind",
        ),
        ("[offline]\ndelay = 'slow'\n", "offline.delay"),
    ],
)
def test_bad_settings_name_the_file_and_the_key(home: Path, text: str, where: str) -> None:
    path = write(home, text)
    with pytest.raises(ConfigError) as caught:
        load_config(env={"GORGON_HOME": str(home)})
    assert str(caught.value).startswith(f"{path}: {where}: ")


def test_a_bad_role_names_the_file(home: Path) -> None:
    path = write(home, "[roles.planner]\npromt = 'typo'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(env={"GORGON_HOME": str(home)})
    assert "unknown field 'promt'" in str(caught.value)
    assert str(path) in str(caught.value)


def test_an_openai_compatible_provider_needs_a_base_url(home: Path) -> None:
    path = write(
        home, "[providers.vllm]\nmodel = 'Qwen/Qwen3-32B'\n"
    )  # kind defaults to openai-compatible
    with pytest.raises(ConfigError) as caught:
        load_config(env={"GORGON_HOME": str(home)})
    assert str(caught.value) == (
        f"{path}: providers.vllm is openai-compatible but has no base_url; "
        'add base_url = "http://host:port/v1"'
    )


def test_gorgon_model_overrides_the_config_file(home: Path) -> None:
    write(home, "[defaults]\nmodel = 'anthropic'\n")
    env = {"GORGON_HOME": str(home)}
    assert load_config(env=env).default_model == "anthropic"
    assert load_config(env={**env, "GORGON_MODEL": "ollama:qwen3"}).default_model == "ollama:qwen3"
    assert load_config(env={**env, "GORGON_MODEL": ""}).default_model == "anthropic"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("gpu-box:11434", "http://gpu-box:11434/v1"),
        ("http://10.0.0.5:11434/", "http://10.0.0.5:11434/v1"),
        ("https://ollama.example.com/v1", "https://ollama.example.com/v1"),
    ],
)
def test_ollama_host(home: Path, host: str, url: str) -> None:
    config = load_config(env={"GORGON_HOME": str(home), "OLLAMA_HOST": host})
    assert config.providers["ollama"].base_url == url
    assert config.providers["ollama"].model == "llama3.1"


def test_a_configured_ollama_base_url_wins_over_ollama_host(home: Path) -> None:
    write(home, "[providers.ollama]\nbase_url = 'http://from-config:11434/v1'\n")
    config = load_config(env={"GORGON_HOME": str(home), "OLLAMA_HOST": "from-env:11434"})
    assert config.providers["ollama"].base_url == "http://from-config:11434/v1"


def test_ollama_host_still_applies_when_the_config_only_changes_the_model(home: Path) -> None:
    write(home, "[providers.ollama]\nmodel = 'qwen3'\n")
    config = load_config(env={"GORGON_HOME": str(home), "OLLAMA_HOST": "gpu-box:11434"})
    assert config.providers["ollama"].model == "qwen3"
    assert config.providers["ollama"].base_url == "http://gpu-box:11434/v1"


def test_gorgon_config_points_at_another_file(home: Path, tmp_path: Path) -> None:
    elsewhere = write(tmp_path, "[defaults]\nmodel = 'offline'\n", "team.toml")
    write(home, "[defaults]\nmodel = 'anthropic'\n")  # not read when GORGON_CONFIG is set
    config = load_config(env={"GORGON_HOME": str(home), "GORGON_CONFIG": str(elsewhere)})
    assert config.file == elsewhere and config.default_model == "offline"
    assert config.db_path == home / "gorgon.db"  # the store stays in GORGON_HOME


def test_gorgon_config_pointing_at_a_missing_file(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(env={"GORGON_HOME": str(home), "GORGON_CONFIG": str(missing)})
    assert (
        str(caught.value)
        == f"config file {missing} (from GORGON_CONFIG) does not exist; create it or unset GORGON_CONFIG"
    )


def test_a_missing_explicit_path_does_not_mention_gorgon_config(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing, env={"GORGON_HOME": str(home)})
    assert str(missing) in str(caught.value)
    assert "GORGON_CONFIG" not in str(caught.value)


def test_gorgon_home_with_a_tilde() -> None:
    config = load_config(env={"GORGON_HOME": "~/somewhere-gorgon"})
    assert config.home == Path.home() / "somewhere-gorgon"


def test_the_configured_default_model_is_what_auto_means(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gorgon_nb.runner import Runner

    workflow = {"id": "w", "steps": [{"id": "a", "agent": "planner", "task": "plan"}]}
    write(home, '[defaults]\nmodel = "openai:gpt-5.5"\n')
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        Runner(load_config(), store=False).prepare(workflow)
    monkeypatch.setenv("GORGON_MODEL", "offline")  # the environment wins
    result = Runner(load_config(), store=False).run(workflow)
    assert result.ok and result.steps["a"].model == "offline"
