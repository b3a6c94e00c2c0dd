"""requirements.lock pins every dependency that pyproject.toml names, within its range, so the
suite and CI install what was tested (./scripts/lock.sh refreshes the lock after a change)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        requirement = line.split(";")[0].strip()
        if requirement and not requirement.startswith("#"):
            name, _, version = requirement.partition("==")
            assert version, f"requirements.lock: '{line}' is not pinned with =="
            pins.setdefault(canonicalize_name(name), version)
    return pins


def test_every_dependency_is_pinned_within_its_range() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    wanted = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    for extra in project["project"]["optional-dependencies"].values():
        wanted += extra
    pins = _pins()
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name == "gorgon-nb":  # an extra that names others
            continue
        assert name in pins, f"{name} is not in requirements.lock: run ./scripts/lock.sh"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement.specifier}: run ./scripts/lock.sh")
