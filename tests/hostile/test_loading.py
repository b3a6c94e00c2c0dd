"""Loading measures a file before building it; ordinary files load as before."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gorgon_nb.errors import ConfigError, WorkflowError
from gorgon_nb.model import limits
from gorgon_nb.model.source import parse_source
from gorgon_nb.workflow import Workflow

CORPUS = Path(__file__).resolve().parent / "corpus"


def test_aliases_of_ordinary_size_load_and_keep_their_lines() -> None:
    text = """id: shared
defaults: &common {model: auto, max_tokens: 500}
inputs:
  topic: {type: string, default: x}
steps:
  - id: a
    llm: "{{ inputs.topic }}"
    retry: &again {attempts: 2}
  - id: b
    llm: again
    retry: *again
    for_each: &three [1, 2, 3]
  - id: c
    llm: "{{ item }}"
    for_each: *three
"""
    workflow = Workflow.from_yaml(text, path="shared.yaml")
    assert workflow.spec.steps[2].for_each == [1, 2, 3]
    assert workflow.spec.steps[1].retry is not None and workflow.spec.steps[1].retry.attempts == 2
    lines = workflow.source.locations if workflow.source else None
    assert lines is not None
    assert lines.line_of(("steps", 1, "for_each", 2)) == 12  # the anchor's own items
    assert lines.line_of(("steps", 2, "for_each")) == 15  # where the alias stands
    assert lines.line_of(("steps", 2, "for_each", 2)) == 12  # inside it: where the value is written


def test_a_mistake_seen_through_an_alias_points_at_where_it_is_written() -> None:
    text = "id: x\nsteps:\n  - id: a\n    llm: hi\n    retry: &r {attempts: 2, jitter: 'no'}\n" \
           "  - id: b\n    llm: hi\n    retry: *r\n"
    with pytest.raises(WorkflowError) as caught:
        Workflow.from_yaml(text, path="x.yaml")
    lines = sorted((p.field, p.line) for p in caught.value.problems)
    assert lines == [("a.retry.jitter", 5), ("b.retry.jitter", 5)]


def test_brackets_inside_json_strings_are_not_nesting() -> None:
    text = '{"id": "x", "steps": [{"id": "a", "llm": "' + "[{" * 500 + '\\" ]]' + '"}]}'
    data, _ = parse_source(text, path="x.json")
    assert data["steps"][0]["llm"].startswith("[{[{")


@pytest.mark.parametrize(("file", "variable", "raised", "then"), [
    ("deep_alias.yaml", "GORGON_MAX_NESTING", "200", "unknown key 'n0'"),
    ("size_for_each_literal.yaml", "GORGON_MAX_FOR_EACH_ITEMS", "2000", None),
    ("size_retry_long.yaml", "GORGON_MAX_RETRY_BACKOFF", "1000000", None),
])
def test_a_raised_limit_lets_the_file_through(file: str, variable: str, raised: str, then: str | None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, raised)
    if then is None:
        Workflow.from_file(CORPUS / file).validate()
        return
    with pytest.raises(WorkflowError) as caught:  # what is wrong with it once loaded
        Workflow.from_file(CORPUS / file)
    assert then in str(caught.value) and variable not in str(caught.value)


def test_the_alias_limit_follows_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # five levels of nine aliases: 9^5 = 59,049 values, under the default limit
    levels = ["a: &a [" + ", ".join(["lol"] * 9) + "]"]
    levels += [f"{k}: &{k} [" + ", ".join([f"*{p}"] * 9) + "]" for p, k in zip("abcd", "bcde", strict=True)]
    text = "id: laughs\n" + "\n".join(levels) + "\nsteps: [{id: s, llm: hi}]\n"
    with pytest.raises(WorkflowError, match="unknown key 'a'"):
        Workflow.from_yaml(text)
    monkeypatch.setenv("GORGON_MAX_YAML_VALUES", "10000")
    with pytest.raises(WorkflowError, match="more than the limit of 10,000 values"):
        Workflow.from_yaml(text)


def test_the_nested_loops_pass_with_a_raised_step_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    workflow = Workflow.from_file(CORPUS / "size_nested_loops.yaml")
    assert any("steps per run" in str(problem) for problem in workflow.problems())
    monkeypatch.setenv("GORGON_MAX_RUN_STEPS", "2000000")
    assert workflow.problems() == []


def test_a_limit_that_is_not_a_number_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GORGON_MAX_NESTING", "-3")
    with pytest.raises(ConfigError, match=r"GORGON_MAX_NESTING='-3' is not a limit: give a whole number above 0 "
                                          r"\(the default is 100\)"):
        Workflow.from_yaml("id: x\nsteps: [{id: a, llm: hi}]\n")


def test_each_limit_is_in_the_table_of_its_module() -> None:
    doc = limits.__doc__ or ""
    variables = [limit.env for limit in limits.LIMITS]
    assert len(set(variables)) == len(variables)
    for limit in limits.LIMITS:
        row = next(line for line in doc.splitlines() if limit.env in line)
        shown = re.search(r"\s([\d,]+)(?: MiB| s)?\s", row)
        assert shown is not None, row
        default = 1024 * 1024 if "MiB" in row else int(shown.group(1).replace(",", ""))
        assert default == limit.default, row
