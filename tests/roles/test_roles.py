"""The built-in roles and the user overrides applied on top of them."""

from __future__ import annotations

import re
from dataclasses import FrozenInstanceError
from importlib import resources
from typing import Any

import pytest
import yaml

from gorgon_nb.errors import ConfigError, NotFoundError
from gorgon_nb.roles import Role, builtin_roles, get_role, load_roles

EXPECTED = {
    "analyst",
    "architect",
    "builder",
    "data_engineer",
    "devops",
    "documenter",
    "migrator",
    "model_builder",
    "planner",
    "reporter",
    "reviewer",
    "security_auditor",
    "supervisor",
    "tester",
    "visualizer",
}


def test_all_fifteen_builtin_roles_load_sorted() -> None:
    roles = builtin_roles()
    assert set(roles) == EXPECTED
    assert list(roles) == sorted(roles)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_role_fields_are_filled_in(name: str) -> None:
    role = builtin_roles()[name]
    assert role.name == name
    assert role.description.strip() and "\n" not in role.description
    assert role.icon.strip() and len(role.icon) <= 2 and not role.icon.isascii()
    lines = [line for line in role.system_prompt.splitlines() if line.strip()]
    assert 8 <= len(lines) <= 20, f"{name}: {len(lines)} prompt lines"


def test_data_files_hold_exactly_the_documented_fields() -> None:
    data = resources.files("gorgon_nb.roles").joinpath("data")
    files = sorted(entry.name for entry in data.iterdir() if entry.name.endswith(".yaml"))
    assert files == sorted(f"{name}.yaml" for name in EXPECTED)
    for name in files:
        raw = yaml.safe_load(data.joinpath(name).read_text(encoding="utf-8"))
        assert set(raw) == {"name", "description", "icon", "system_prompt"}, name
        assert raw["name"] == name.removesuffix(".yaml")


def test_role_prompts_ask_for_the_documented_answer_shapes() -> None:
    roles = builtin_roles()
    assert "VERDICT: APPROVE" in roles["reviewer"].system_prompt
    assert "VERDICT: REQUEST_CHANGES" in roles["reviewer"].system_prompt
    assert "VERDICT: PASS" in roles["tester"].system_prompt
    assert "numbered" in roles["planner"].system_prompt
    assert "Risks" in roles["planner"].system_prompt
    assert "fenced" in roles["builder"].system_prompt
    assert "Schema" in roles["data_engineer"].system_prompt
    assert "Executive summary" in roles["reporter"].system_prompt
    for other in EXPECTED - {"supervisor"}:
        assert other in roles["supervisor"].system_prompt


def test_builtin_roles_are_cached_but_callers_get_their_own_dict() -> None:
    first = builtin_roles()
    first.pop("planner")
    second = builtin_roles()
    assert "planner" in second
    assert second["builder"] is builtin_roles()["builder"]


def test_roles_are_immutable() -> None:
    role = builtin_roles()["planner"]
    with pytest.raises(FrozenInstanceError):
        role.name = "other"  # type: ignore[misc]


def test_load_roles_without_overrides_equals_builtins() -> None:
    assert load_roles() == builtin_roles()
    assert load_roles({}) == builtin_roles()


def test_override_replaces_one_field_and_keeps_the_others() -> None:
    builtin = builtin_roles()["reviewer"]
    roles = load_roles({"reviewer": {"system_prompt": "Be strict about security."}})
    reviewer = roles["reviewer"]
    assert reviewer.system_prompt == "Be strict about security."
    assert reviewer.description == builtin.description
    assert reviewer.icon == builtin.icon
    assert roles["planner"] == builtin_roles()["planner"]
    assert builtin_roles()["reviewer"] == builtin  # the cache is untouched


def test_override_can_repeat_the_role_name() -> None:
    roles = load_roles({"planner": {"name": "planner", "icon": "🧠"}})
    assert roles["planner"].icon == "🧠"


def test_empty_override_keeps_the_builtin_role() -> None:
    assert load_roles({"tester": None})["tester"] == builtin_roles()["tester"]  # type: ignore[dict-item]


def test_new_role_is_added_in_sorted_order_with_the_default_icon() -> None:
    roles = load_roles(
        {"pen_tester": {"description": "Audits code.", "system_prompt": "Find holes."}}
    )
    assert roles["pen_tester"] == Role(
        name="pen_tester", description="Audits code.", system_prompt="Find holes."
    )
    assert roles["pen_tester"].icon == "🤖"
    assert list(roles) == sorted(roles)
    assert len(roles) == len(EXPECTED) + 1


@pytest.mark.parametrize("missing", ["description", "system_prompt"])
def test_new_role_missing_a_required_field(missing: str) -> None:
    fields = {"description": "Audits code.", "system_prompt": "Find holes."}
    del fields[missing]
    with pytest.raises(ConfigError, match=rf"role 'auditor'.*missing required field '{missing}'"):
        load_roles({"auditor": fields})


def test_unknown_field_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_roles({"planner": {"prompt": "x"}})
    message = str(info.value)
    assert "role 'planner'" in message
    assert "'prompt'" in message
    for field in ("name", "description", "icon", "system_prompt"):
        assert field in message


@pytest.mark.parametrize("name", ["Planner", "1st", "code-reviewer", "", "a b", "_hidden"])
def test_invalid_role_names(name: str) -> None:
    with pytest.raises(ConfigError, match="invalid role name"):
        load_roles({name: {"description": "d", "system_prompt": "p"}})


@pytest.mark.parametrize(
    ("fields", "pattern"),
    [
        ({"system_prompt": ""}, "field 'system_prompt' must be a non-empty string"),
        ({"description": 3}, "field 'description' must be a non-empty string"),
        ({"icon": None}, "field 'icon' must be a non-empty string"),
        ({"name": "builder"}, "field 'name' is 'builder' but must be 'planner'"),
    ],
)
def test_bad_field_values(fields: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(pattern)):
        load_roles({"planner": fields})


def test_overrides_must_be_mappings() -> None:
    with pytest.raises(ConfigError, match="role 'planner' must be a mapping"):
        load_roles({"planner": "just a prompt"})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="'roles' must be a mapping"):
        load_roles(["planner"])  # type: ignore[arg-type]


def test_get_role_suggests_a_spelling() -> None:
    assert get_role("tester").name == "tester"
    with pytest.raises(NotFoundError, match="did you mean 'reviewer'"):
        get_role("reviwer")
    custom = load_roles({"auditor": {"description": "d", "system_prompt": "p"}})
    assert get_role("auditor", custom).system_prompt == "p"
