"""Roles: the named personas a step can speak as.

Each built-in role lives in ``gorgon_nb/roles/data/<name>.yaml`` with a ``name``, a
one-line ``description``, an ``icon`` and a ``system_prompt``. Users can change a
built-in role or add their own through the ``roles:`` section of a config file; see
``load_roles``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import yaml

from gorgon_nb.errors import ConfigError, NotFoundError, did_you_mean

__all__ = ["ROLE_FIELDS", "Role", "builtin_roles", "get_role", "load_roles"]

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ROLE_FIELDS: tuple[str, ...] = ("name", "description", "icon", "system_prompt", "tools", "auto_approve")
_TEXT_FIELDS: tuple[str, ...] = ("description", "icon", "system_prompt")
_REQUIRED_FOR_NEW: tuple[str, ...] = ("description", "system_prompt")


@dataclass(frozen=True)
class Role:
    """A persona: what the role is for and the system prompt that makes a model act as it."""

    name: str
    description: str
    system_prompt: str
    icon: str = "🤖"
    tools: tuple[str, ...] = ()  # what its steps may call when they list no tools (see model.tools)
    auto_approve: bool | tuple[str, ...] = False  # of those, the calls that need no approval (True: all)


def builtin_roles() -> dict[str, Role]:
    """The roles shipped with gorgon-nb, sorted by name (read from disk only once)."""
    return dict(_load_builtin())


@functools.cache
def _load_builtin() -> tuple[tuple[str, Role], ...]:
    roles: dict[str, Role] = {}
    data_dir = resources.files("gorgon_nb.roles").joinpath("data")
    for entry in data_dir.iterdir():
        if not entry.name.endswith(".yaml"):
            continue
        source = f"built-in role file {entry.name}"
        try:
            raw = yaml.safe_load(entry.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
        name = entry.name.removesuffix(".yaml")
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{source} must hold a mapping of role fields")
        if raw.get("name", name) != name:
            raise ConfigError(f"{source} names the role '{raw.get('name')}', expected '{name}'")
        roles[name] = _build(name, raw, base=None, source=source)
    return tuple(sorted(roles.items()))


def load_roles(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Role]:
    """The built-in roles with ``overrides`` applied, sorted by name.

    ``overrides`` maps a role name to the fields to set. For a built-in role the given
    fields replace the built-in ones and the rest are kept; a new role must give at least
    ``description`` and ``system_prompt``. Raises ``ConfigError`` for bad names, unknown
    fields, missing fields or values that are not non-empty strings.
    """
    roles = builtin_roles()
    if overrides is None:
        return roles
    if not isinstance(overrides, Mapping):
        raise ConfigError(
            f"'roles' must be a mapping of role name to fields, got {type(overrides).__name__}"
        )
    for name, fields in overrides.items():
        if not isinstance(name, str) or not ROLE_NAME.match(name):
            raise ConfigError(
                f"invalid role name {name!r}: use lowercase letters, digits and underscores, "
                "starting with a letter (e.g. 'code_reviewer')"
            )
        if fields is None:
            fields = {}
        if not isinstance(fields, Mapping):
            raise ConfigError(
                f"role '{name}' must be a mapping of fields "
                f"({', '.join(ROLE_FIELDS)}), got {type(fields).__name__}"
            )
        roles[name] = _build(name, fields, base=roles.get(name), source=f"role '{name}'")
    return dict(sorted(roles.items()))


def get_role(name: str, roles: Mapping[str, Role] | None = None) -> Role:
    """The role called ``name``; ``NotFoundError`` with a spelling hint when there is none."""
    known = builtin_roles() if roles is None else roles
    try:
        return known[name]
    except KeyError:
        hint = did_you_mean(name, known)
        raise NotFoundError(f"unknown role '{name}'" + (f": {hint}" if hint else "")) from None


def _build(name: str, fields: Mapping[str, Any], *, base: Role | None, source: str) -> Role:
    unknown = sorted(str(key) for key in fields if key not in ROLE_FIELDS)
    if unknown:
        raise ConfigError(
            f"{source}: unknown field{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(u) for u in unknown)}; allowed fields: {', '.join(ROLE_FIELDS)}"
        )
    if "name" in fields and fields["name"] != name:
        raise ConfigError(f"{source}: field 'name' is {fields['name']!r} but must be '{name}'")
    values: dict[str, Any] = {}
    for key in _TEXT_FIELDS:
        if key not in fields:
            continue
        value = fields[key]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{source}: field '{key}' must be a non-empty string")
        values[key] = value.strip()
    if "tools" in fields:
        values["tools"] = _names(fields["tools"], "tools", source)
    if "auto_approve" in fields:
        value = fields["auto_approve"]
        values["auto_approve"] = value if isinstance(value, bool) else _names(value, "auto_approve", source)
    if base is not None:
        return replace(base, **values)
    for key in _REQUIRED_FOR_NEW:
        if key not in values:
            raise ConfigError(
                f"{source}: new role is missing required field '{key}' "
                f"(a new role needs {' and '.join(_REQUIRED_FOR_NEW)})"
            )
    return Role(name=name, **values)


def _names(value: Any, key: str, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{source}: field '{key}' must be a list of tool names, e.g. [\"files\", \"mcp:fs\"]")
    return tuple(v.strip() for v in value)
