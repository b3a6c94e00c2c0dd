"""python:MODULE:FUNCTION tools from a real module beside the workflow, and @gorgon_nb.tool
on a notebook's function: the schema from the signature, validated calls, approvals."""

from __future__ import annotations

import itertools
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from toolbench import act

import gorgon_nb
from gorgon_nb.errors import UsageError, WorkflowError
from gorgon_nb.runner import Runner, default_runner
from gorgon_nb.testing import ScriptedModel
from gorgon_nb.tools.python import MARK, ToolMark
from gorgon_nb.workflow import Workflow

SOURCE = '''
import asyncio
import threading
from dataclasses import dataclass
from typing import Literal

import gorgon_nb


@dataclass
class Forecast:
    city: str
    days: int
    sky: str


@gorgon_nb.tool
def forecast(city: str, days: int = 3, unit: Literal["C", "F"] = "C") -> Forecast:
    """The weather forecast of a city.

    Only a few cities are known.

    Args:
        city: the city's name, such as "Lyon"
        days: how many days ahead,
            counting today
        unit: degrees Celsius or Fahrenheit
    """
    return Forecast(city, days, "sunny" if city == "Lyon" else "rainy")


def where() -> str:
    """The thread this runs in."""
    return threading.current_thread().name


async def later(seconds: float) -> str:
    """Waits, then says so."""
    await asyncio.sleep(seconds)
    return f"waited {seconds}"


NOTES: list[str] = []


def plain(note: str) -> str:
    NOTES.append(note)
    return "noted"


@gorgon_nb.tool(writes=True, name="save_note", description="Keep a note.")
def keep(note: str) -> str:
    return f"kept {note}"


def broken() -> None:
    """Fails."""
    raise RuntimeError("the disk is on fire")
'''
_numbers = itertools.count()


@pytest.fixture
def module(tmp_path: Path) -> Iterator[str]:
    """A module of tools beside the workflow, under a name no other test imported."""
    name = f"weather_tools_{next(_numbers)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(SOURCE), encoding="utf-8")
    (tmp_path / "ws").mkdir()
    yield name
    sys.modules.pop(name, None)


async def test_the_schema_comes_from_the_signature_and_the_docstring(runner: Runner, tmp_path: Path,
                                                                     module: str) -> None:
    acted = await act(runner, tmp_path, [f"python:{module}:forecast"],
                      [(f"python:{module}:forecast", {"city": "Lyon", "days": 2})], allow_code=True)
    assert acted.result.ok, acted.result.error
    (spec,) = acted.model.requests[0].tools
    assert spec.name == f"python_{module}_forecast"
    assert spec.description == "The weather forecast of a city."
    schema = spec.schema
    assert schema["required"] == ["city"] and schema["additionalProperties"] is False
    assert schema["properties"]["city"]["type"] == "string"
    assert schema["properties"]["city"]["description"] == 'the city\'s name, such as "Lyon"'
    assert schema["properties"]["days"] == {"type": "integer", "default": 3, "title": "days",
                                            "description": "how many days ahead, counting today"}
    assert schema["properties"]["unit"]["enum"] == ["C", "F"]
    assert acted.approvals == []  # marked @gorgon_nb.tool: it only reads
    assert acted.read == ['{"city": "Lyon", "days": 2, "sky": "sunny"}']


async def test_arguments_are_validated_before_the_call(runner: Runner, tmp_path: Path, module: str) -> None:
    ref = f"python:{module}:forecast"
    acted = await act(runner, tmp_path, [ref], [
        (ref, {"city": "Lyon", "days": "many"}),
        (ref, {"days": 1}),
        (ref, {"city": "Lyon", "hours": 1}),
        (ref, {"city": "Oslo", "days": "4", "unit": "F"}),
    ], allow_code=True)
    wrong_type, missing, unknown, coerced = acted.read
    assert wrong_type.startswith(f"the arguments do not fit {ref}: days: Input should be a valid integer")
    assert missing == f"the arguments do not fit {ref}: city: Field required"
    assert unknown == f"the arguments do not fit {ref}: hours: Extra inputs are not permitted"
    assert coerced == '{"city": "Oslo", "days": 4, "sky": "rainy"}'
    assert acted.errors == [True, True, True, False]


async def test_sync_functions_run_in_a_thread_and_async_ones_are_awaited(runner: Runner, tmp_path: Path,
                                                                         module: str) -> None:
    refs = [f"python:{module}:where", f"python:{module}:later", f"python:{module}:broken"]
    acted = await act(runner, tmp_path, refs, [(refs[0], {}), (refs[1], {"seconds": 0.01}), (refs[2], {})],
                      allow_code=True, auto_approve=True)
    thread, waited, broken = acted.read
    assert thread != "MainThread"
    assert waited == "waited 0.01"
    assert broken == f"python:{module}:broken raised RuntimeError: the disk is on fire"
    assert acted.errors == [False, False, True]


async def test_unmarked_functions_count_as_writes(runner: Runner, tmp_path: Path, module: str) -> None:
    plain, kept = f"python:{module}:plain", f"python:{module}:save_note"
    acted = await act(runner, tmp_path, [f"python:{module}:plain", f"python:{module}:keep"],
                      [(plain, {"note": "hello"}), (kept, {"note": "milk"})], allow_code=True)
    assert acted.result.ok, acted.result.error
    assert sorted(a.title for a in acted.approvals) == sorted([f"{plain} (act)", f"{kept} (act)"])
    (shown,) = [a.preview for a in acted.approvals if a.title.startswith(plain)]
    assert '"note": "hello"' in shown
    assert acted.read == ["noted", "kept milk"]
    assert sys.modules[module].NOTES == ["hello"]
    offered = {spec.name: spec.description for spec in acted.model.requests[0].tools}
    assert offered[f"python_{module}_save_note"] == "Keep a note."
    assert offered[f"python_{module}_plain"] == f"Calls {module}.plain."


async def test_python_tools_need_both_consents(runner: Runner, tmp_path: Path, module: str) -> None:
    with pytest.raises(UsageError) as caught:
        await act(runner, tmp_path, [f"python:{module}:forecast"], [], allow_code=False)
    assert f"offers its model tools that run code (python:{module}:forecast)" in str(caught.value)
    assert module not in sys.modules  # refused before anything was imported


@pytest.mark.parametrize(("ref", "said"), [
    ("python", "the python tool set needs a function: python:MODULE:FUNCTION"),
    ("python:no-colon", "'python:no-colon' does not name a function: write python:MODULE:FUNCTION"),
])
def test_a_malformed_reference_is_refused_before_the_run(runner: Runner, ref: str, said: str) -> None:
    workflow = Workflow.from_yaml(f"id: t\nsteps:\n  - {{id: a, llm: hi, tools: ['{ref}']}}\n")
    with pytest.raises(WorkflowError) as caught:
        workflow.compile(runner.config)
    assert said in str(caught.value)


async def test_a_missing_module_stops_the_step_clearly(runner: Runner, tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    acted = await act(runner, tmp_path, ["python:no_such_module_anywhere:f"], [], allow_code=True)
    assert not acted.result.ok
    error = acted.result.steps["act"].error or ""
    assert error.startswith("cannot import module 'no_such_module_anywhere'") and "Install it" in error
    assert error.endswith("(for the tool python:no_such_module_anywhere:f)")


def test_the_decorator_marks_the_function_and_leaves_it_as_it_was() -> None:
    def lookup(city: str) -> str:
        return city

    assert gorgon_nb.tool(lookup) is lookup and lookup("Lyon") == "Lyon"
    assert getattr(lookup, MARK) == ToolMark()
    marked = gorgon_nb.tool(writes=True, idempotent=True, name="find")(lookup)
    assert getattr(marked, MARK) == ToolMark("find", True, True, None)
    with pytest.raises(ValueError, match="a tool's name is letters, digits and _, not 'two words'"):
        gorgon_nb.tool(name="two words")


def _cell(ip: InteractiveShell, text: str) -> BaseException | None:
    with capture_output():
        outcome = ip.run_cell(text)
    return outcome.error_before_exec or outcome.error_in_exec


def test_a_cell_offers_its_notebooks_own_functions_without_consent(ip: InteractiveShell, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ip.user_ns["__name__"] = "__main__"
    model = ScriptedModel([("python:__main__:double", {"n": 21})])
    default_runner().runtime.providers.register(model)
    assert _cell(ip, "import gorgon_nb\n@gorgon_nb.tool\ndef double(n: int) -> int:\n"
                     "    '''Twice n.'''\n    return 2 * n") is None
    cell = "%%gorgon --out doubled\nsteps:\n  - id: a\n    llm: double 21\n    tools: ['python:__main__:double']\n"
    assert _cell(ip, cell) is None
    assert ip.user_ns["doubled"].ok
    assert [m.content for m in model.results()] == ["42"]
    assert model.requests[0].tools[0].description == "Twice n."
    # a function imported into the notebook is not the notebook's own
    default_runner().runtime.providers.register(ScriptedModel([("python:__main__:where", {})]))
    assert _cell(ip, "from os import getcwd as where") is None
    error = _cell(ip, cell.replace("double", "where"))
    assert error is not None and "not a function defined in this notebook" in str(error)


def test_sphinx_docstrings_positional_parameters_and_names_pydantic_models_use() -> None:
    from gorgon_nb.tools._signature import arguments_of

    def find(schema: str, json: bool = False, /, *, copy: int = 1) -> str:
        """Find a schema.

        :param schema: the schema's name
        :param json: whether to answer in JSON
        """
        return schema

    found = arguments_of(find, "python:m:find")
    assert found.schema["required"] == ["schema"]
    assert found.schema["properties"]["schema"]["description"] == "the schema's name"
    assert found.schema["properties"]["json"]["description"] == "whether to answer in JSON"
    assert found.bind({"schema": "s", "copy": 2}, "find") == (["s"], {"copy": 2})
    assert found.bind({"schema": "s", "json": True}, "find") == (["s", True], {})
