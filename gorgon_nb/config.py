"""Settings: built-in defaults, the user's ``config.toml``, and environment variables.

Where things live: ``GORGON_HOME`` (default: ``<jupyter data dir>/gorgon``) holds
``config.toml``, the ``gorgon.db`` store and user ``workflows/``. ``GORGON_CONFIG``
points at another config file; ``GORGON_MODEL`` overrides the default model.

A config file looks like::

    [defaults]
    model = "anthropic:claude-sonnet-5-5"

    [providers.vllm]                 # any OpenAI-compatible server
    kind = "openai-compatible"
    base_url = "http://gpu-box:8000/v1"
    model = "Qwen/Qwen3-32B"
    api_key_env = "VLLM_API_KEY"     # the variable holding its key, if it needs one

    [budget]
    daily_usd = 10.0                 # what all runs together may spend in a day

    [integrations.github]            # GitHub, Notion, Slack and Gmail steps
    token_env = "GITHUB_TOKEN"       # the variable holding the token (the default)
    base_url = "https://ghe.example.com/api/v3"   # GitHub Enterprise
    auto_approve = ["create_issue"]  # writes that need no approval (true: all of them)

    [integrations.gmail]             # an OAuth token file (or GORGON_GMAIL_TOKEN_FILE)
    token_file = "~/.config/gorgon/gmail-token.json"

    [roles.security_reviewer]
    description = "Reviews code for security problems"
    system_prompt = "You are a security reviewer..."
    tools = ["files", "mcp:semgrep"]  # what its steps may call (see gorgon_nb.model.tools)

    [tools]
    auto_approve = ["files.write_file"]  # tool calls that need no approval (true: all)

    [webhooks.github_push]           # a webhook's shared secret (gorgon webhook create)
    secret_env = "GITHUB_PUSH_SECRET"  # the variable holding it (or secret = "...")

    [mcp.servers.fs]                 # an MCP server over stdio ...
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-filesystem", "."]
    [mcp.servers.search]             # ... or over streamable HTTP
    url = "http://127.0.0.1:8000/mcp"

API keys are read from the environment only. An integration's token may also be put
in the config file (``token = "..."``); the environment wins. Neither is ever written to
the store or any output: loading the config registers every variable it names as holding
a credential (each ``api_key_env`` and ``token_env``, whatever it is called) and every
token it holds with ``gorgon_nb.secrets``, whose ``redact`` scrubs them from what is kept
and shown, and puts the redacting filter on the SDKs' loggers.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gorgon_nb.errors import ConfigError
from gorgon_nb.roles import Role, load_roles

__all__ = ["Config", "IntegrationSettings", "MCPServerSettings", "ProviderSettings", "ToolSettings", "WebhookSettings", "gorgon_home",
           "load_config"]

ProviderKind = Literal["anthropic", "openai", "openai-compatible", "offline", "plugin"]


class ProviderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    kind: ProviderKind = "openai-compatible"
    model: str | None = Field(None, description="the model used when only the provider is named")
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int = Field(4, ge=1, le=1000)
    timeout: float = Field(600.0, gt=0)
    free: bool = Field(False, description="calls cost nothing (a local server); otherwise unknown prices stay unknown")


def _http_url(value: str | None, example: str) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError(f"'{value}' is not a URL; write it as {example}")
    return value


def _approves(setting: bool | list[str], name: str) -> bool:
    return setting is True or (isinstance(setting, list) and name in setting)


class IntegrationSettings(BaseModel):
    """``[integrations.github|notion|slack|gmail]``: where the service is and how to sign in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_env: str
    token: str | None = Field(None, description="the token itself; prefer token_env")
    token_file: str | None = Field(None, description="gmail: the OAuth token file (authorized-user JSON)")
    token_url: str | None = Field(None, description="gmail: another OAuth token endpoint (a stand-in for Google's)")
    base_url: str | None = Field(None, description="another server (GitHub Enterprise: https://HOST/api/v3)")
    auto_approve: bool | list[str] = Field(False, description="writes that run without a person's approval")
    timeout: float = Field(30.0, gt=0)

    @field_validator("base_url", "token_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value, "https://host/path")

    def auto_approves(self, action: str) -> bool:
        return _approves(self.auto_approve, action)


class ToolSettings(BaseModel):
    """``[tools]``: what holds for every step's tools."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    auto_approve: bool | list[str] = Field(False, description="tool calls that need no approval (true: all)")


class MCPServerSettings(BaseModel):
    """``[mcp.servers.NAME]``: an MCP server, started with ``command`` and ``args`` (stdio) or
    reached at ``url`` (streamable HTTP). Its tools are ``mcp:NAME/TOOL``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="variables for the server (beside PATH and HOME)")
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(120.0, gt=0, description="seconds a tool call may take")
    startup_timeout: float = Field(30.0, gt=0, description="seconds the server may take to start and list its tools")
    auto_approve: bool | list[str] = Field(False, description="its tools whose calls need no approval (true: all)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value, "http://host:port/mcp")

    def auto_approves(self, tool: str) -> bool:
        """Whether calls of its tool ``tool`` (its own name: ``write_file``) need no approval."""
        return _approves(self.auto_approve, tool)


class WebhookSettings(BaseModel):
    """``[webhooks.NAME]``: where the shared secret of the webhook NAME is read from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    secret_env: str | None = Field(None, description="the variable holding the secret")
    secret: str | None = Field(None, description="the secret itself; prefer secret_env")


class _MCP(BaseModel):
    model_config = ConfigDict(extra="forbid")
    servers: dict[str, dict[str, Any]] = Field(default_factory=dict)


class _Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "auto"


class _Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    daily_usd: float | None = Field(None, gt=0)


class SchedulerSettings(BaseModel):
    """``[scheduler]``: the scheduler loop the Jupyter server runs when ``enabled``."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    concurrency: int = Field(2, ge=1, le=64)
    pool: int = Field(2, ge=0, le=32, description="kernels started ahead")
    dask: str | None = Field(None, description="a Dask scheduler address; jobs run there")


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    defaults: _Defaults = Field(default_factory=_Defaults)
    budget: _Budget = Field(default_factory=_Budget)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    integrations: dict[str, dict[str, Any]] = Field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    offline: dict[str, float] = Field(default_factory=dict)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    mcp: _MCP = Field(default_factory=_MCP)
    webhooks: dict[str, WebhookSettings] = Field(default_factory=dict)


@dataclass
class Config:
    home: Path
    file: Path | None = None
    default_model: str = "auto"
    providers: dict[str, ProviderSettings] = field(default_factory=dict)
    user_providers: tuple[str, ...] = ()
    roles: dict[str, Role] = field(default_factory=dict)
    offline_delay: float = 0.0
    daily_usd: float | None = None  # dollars all runs together may spend in a day
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    integrations: dict[str, IntegrationSettings] = field(default_factory=dict)
    tools: ToolSettings = field(default_factory=ToolSettings)
    mcp_servers: dict[str, MCPServerSettings] = field(default_factory=dict)
    webhooks: dict[str, WebhookSettings] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)

    @property
    def tools_auto_approve(self) -> bool | list[str]:
        return self.tools.auto_approve

    @property
    def db_path(self) -> Path:
        return self.home / "gorgon.db"

    def provider(self, name: str) -> ProviderSettings:
        return self.providers[name]

    def token(self, service: str) -> str | None:
        """The token of an integration: its environment variable, else the config file's (for
        Gmail, the path of its token file: the variable's, else ``token_file``)."""
        from gorgon_nb.secrets import remember

        settings = self.integrations[service]
        token = self.env.get(settings.token_env) or settings.token
        if token:
            remember(token)  # the variable may have been set after the config was loaded
        return token or settings.token_file  # a file's path is not itself a secret


def gorgon_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("GORGON_HOME"):
        return Path(env["GORGON_HOME"]).expanduser()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "gorgon"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}. Fix the file or move it aside.") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None


@lru_cache(maxsize=1)
def _builtin() -> dict[str, Any]:
    return tomllib.loads(resources.files("gorgon_nb").joinpath("defaults.toml").read_text(encoding="utf-8"))


def load_config(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Built-in defaults, overridden by the config file, overridden by the environment."""
    env = os.environ if env is None else env
    home = gorgon_home(env)
    file = Path(path) if path is not None else Path(env["GORGON_CONFIG"]) if env.get("GORGON_CONFIG") else home / "config.toml"
    user: dict[str, Any] = {}
    if file.is_file():
        user = _read_toml(file)
    elif path is not None:
        raise ConfigError(f"config file {file} does not exist; check the path")
    elif env.get("GORGON_CONFIG"):
        raise ConfigError(f"config file {file} (from GORGON_CONFIG) does not exist; create it or unset GORGON_CONFIG")
    try:
        parsed = _ConfigFile.model_validate(user)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{file}: {where}: {first['msg']}") from None

    builtin = _builtin()
    providers: dict[str, ProviderSettings] = {}
    merged = {name: dict(values) for name, values in builtin["providers"].items()}
    for name, values in parsed.providers.items():
        merged.setdefault(name, {}).update(values)
    for name, values in merged.items():
        values = dict(values)
        if name == "ollama" and env.get("OLLAMA_HOST") and "base_url" not in parsed.providers.get(name, {}):
            values["base_url"] = _ollama_url(env["OLLAMA_HOST"])
        try:
            providers[name] = ProviderSettings.model_validate({**values, "name": name})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"{file}: providers.{name}.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        if providers[name].kind == "openai-compatible" and not providers[name].base_url:
            raise ConfigError(f"{file}: providers.{name} is openai-compatible but has no base_url; "
                              "add base_url = \"http://host:port/v1\"")

    integrations = _integrations(builtin["integrations"], parsed.integrations, file)
    _register_secrets(providers, integrations, env)
    try:
        roles = load_roles(parsed.roles)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    return Config(
        home=home,
        file=file if file.is_file() else None,
        default_model=env.get("GORGON_MODEL") or parsed.defaults.model or builtin["defaults"]["model"],
        providers=providers,
        user_providers=tuple(name for name in parsed.providers if name not in builtin["providers"]),
        roles=roles,
        offline_delay=float(parsed.offline.get("delay", 0.0)),
        daily_usd=parsed.budget.daily_usd,
        scheduler=parsed.scheduler,
        integrations=integrations,
        tools=parsed.tools,
        mcp_servers=_mcp_servers(parsed.mcp.servers, file),
        webhooks=_webhook_secrets(parsed.webhooks, env),
        env=env,
    )


def _mcp_servers(declared: dict[str, dict[str, Any]], file: Path) -> dict[str, MCPServerSettings]:
    import re

    servers: dict[str, MCPServerSettings] = {}
    for name, values in declared.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise ConfigError(f"{file}: mcp.servers.{name}: use letters, digits, '-' and '_' in a server's name")
        try:
            server = MCPServerSettings.model_validate({**values, "name": name})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"{file}: mcp.servers.{name}.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        if (server.command is None) == (server.url is None):
            raise ConfigError(f"{file}: mcp.servers.{name} needs either command (a server over stdio) or url "
                              "(one over streamable HTTP), not both")
        servers[name] = server
    return servers


def _webhook_secrets(webhooks: dict[str, WebhookSettings], env: Mapping[str, str]) -> dict[str, WebhookSettings]:
    """The webhooks' secrets settings, their secrets known to ``gorgon_nb.secrets`` as such."""
    from gorgon_nb.secrets import register_variable, remember

    for settings in webhooks.values():
        if settings.secret_env:
            register_variable(settings.secret_env, env)
        if settings.secret:
            remember(settings.secret)
    return webhooks


def _integrations(builtin: dict[str, Any], user: dict[str, dict[str, Any]], file: Path) -> dict[str, IntegrationSettings]:
    from gorgon_nb.secrets import remember

    found: dict[str, IntegrationSettings] = {}
    for name in user:
        if name not in builtin:
            raise ConfigError(f"{file}: integrations.{name}: unknown service; known: {', '.join(builtin)}")
    for name, values in builtin.items():
        try:
            found[name] = IntegrationSettings.model_validate({**values, **user.get(name, {})})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"{file}: integrations.{name}.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        if token := found[name].token:
            remember(token)
    return found


def _register_secrets(providers: Mapping[str, ProviderSettings], integrations: Mapping[str, IntegrationSettings],
                      env: Mapping[str, str]) -> None:
    """Every credential the configuration names is scrubbed, whatever its variable is called."""
    from gorgon_nb.secrets import WELL_KNOWN_VARIABLES, refresh, register_variable, scrub_logs

    names = [*WELL_KNOWN_VARIABLES, *(p.api_key_env for p in providers.values() if p.api_key_env),
             *(i.token_env for i in integrations.values())]
    for name in names:
        register_variable(name, env)
    refresh()  # a variable set just before the config is loaded is scrubbed from the start
    scrub_logs()


def _ollama_url(host: str) -> str:
    host = host.rstrip("/")
    if not host.startswith(("http://", "https://")):
        host = "http://" + host
    return host if host.endswith("/v1") else host + "/v1"
