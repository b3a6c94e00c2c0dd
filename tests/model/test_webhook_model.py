"""The pure parts of webhooks: signatures, paths into a payload, and inputs from a payload."""

from __future__ import annotations

from typing import Any

import pytest

from gorgon_nb.model.webhooks import (
    PayloadMapping,
    Webhook,
    extract,
    map_inputs,
    sign,
    signature_matches,
)

PAYLOAD = {"repository": {"full_name": "octo/hello"}, "commits": [{"id": "a1"}, {"id": "b2"}], "zero": 0,
           "none": None}


def test_a_signature_is_githubs_and_only_the_same_secret_and_body_match() -> None:
    # GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign("It's a Secret to Everybody", b"Hello, World!") == expected
    assert signature_matches("It's a Secret to Everybody", b"Hello, World!", expected)
    assert not signature_matches("It's a Secret to Everybody", b"Hello, World?", expected)
    assert not signature_matches("another secret", b"Hello, World!", expected)
    assert not signature_matches("It's a Secret to Everybody", b"Hello, World!", expected.upper())
    assert not signature_matches("It's a Secret to Everybody", b"Hello, World!", None)
    assert not signature_matches("", b"", sign("", b""))  # no secret never matches


@pytest.mark.parametrize(("path", "found"), [
    ("repository.full_name", (True, "octo/hello")),
    ("commits.1.id", (True, "b2")),
    ("commits.-1.id", (True, "b2")),
    ("commits.2.id", (False, None)),
    ("commits.x", (False, None)),
    ("zero", (True, 0)),
    ("repository.missing", (False, None)),
    ("repository.full_name.deeper", (False, None)),
])
def test_dotted_paths_step_into_objects_and_lists(path: str, found: tuple[bool, Any]) -> None:
    assert extract(PAYLOAD, path) == found


def test_mapped_values_fill_the_fixed_texts_and_missing_paths_are_said() -> None:
    webhook = Webhook(name="w", workflow="w.yaml", root="/", inputs={
        "prompt": "Repo {{repo}} by {{ who }}, {{other}}", "n": 3, "nested": ["{{repo}}"]},
        payload_mappings=[PayloadMapping("repository.full_name", "repo"), PayloadMapping("pusher.name", "who"),
                          PayloadMapping("none", "gone", default="fallback")])
    inputs, missing = map_inputs(webhook, PAYLOAD)
    assert inputs == {"prompt": "Repo octo/hello by {{ who }}, {{other}}", "n": 3, "nested": ["octo/hello"],
                      "repo": "octo/hello", "gone": "fallback"}
    assert missing == ["pusher.name", "none"]
