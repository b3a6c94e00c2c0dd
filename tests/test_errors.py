"""Errors speak the language of the surface they are shown on: Python, a notebook, a terminal."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from gorgon_nb.errors import (
    SURFACES,
    Advice,
    GorgonError,
    InputError,
    NotFoundError,
    Surface,
    UsageError,
)
from gorgon_nb.magics.errors import MagicError
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow, list_workflows

LISTING = Advice(python="Runner().store.runs.recent() lists recent runs.",
                 notebook="Run %gorgon runs to list recent runs.", cli="Run 'gorgon runs' to list recent runs.")


def test_each_surface_reads_its_own_form() -> None:
    error = NotFoundError("no run 'abc'. ", LISTING)
    assert str(error) == error.for_surface("python") == "no run 'abc'. Runner().store.runs.recent() lists recent runs."
    assert error.for_surface("notebook") == "no run 'abc'. Run %gorgon runs to list recent runs."
    assert error.for_surface("cli") == "no run 'abc'. Run 'gorgon runs' to list recent runs."
    assert error.without_advice() == "no run 'abc'."


def test_a_message_without_advice_is_the_same_everywhere() -> None:
    error = UsageError("the budget is spent")
    assert {error.for_surface(surface) for surface in SURFACES} == {"the budget is spent"} == {str(error)}
    assert error.without_advice() == "the budget is spent"


def test_advice_can_sit_between_parts() -> None:
    error = InputError("missing 'a': ", Advice(python="pass inputs={'a': ...}", notebook="add -v a=...",
                                               cli="pass -v a=..."), "; input 'b' must be an integer")
    assert error.for_surface("cli") == "missing 'a': pass -v a=...; input 'b' must be an integer"
    assert str(error) == "missing 'a': pass inputs={'a': ...}; input 'b' must be an integer"


def test_an_unknown_surface_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown surface 'web'; one of: python, notebook, cli"):
        NotFoundError("x").for_surface("web")  # type: ignore[arg-type]


def test_other_arguments_read_as_an_exception_would() -> None:
    assert str(GorgonError()) == ""
    assert str(GorgonError(42)) == "42"  # type: ignore[arg-type]


def test_an_error_survives_pickling_with_its_advice() -> None:
    copy = pickle.loads(pickle.dumps(NotFoundError("no run 'abc'. ", LISTING)))
    assert isinstance(copy, NotFoundError) and copy.for_surface("cli").endswith("Run 'gorgon runs' to list recent runs.")


# -- the core's messages, in each surface's words ------------------------------------------------

REQUEST = "the feature to build, in a sentence or two"


def _raised(action: Callable[[], object]) -> GorgonError:
    with pytest.raises(GorgonError) as caught:
        action()
    return caught.value


CASES: list[tuple[str, Callable[[Runner], object], dict[Surface, str]]] = [
    ("unknown run", lambda runner: runner.store.runs.get("zzzzzz"), {  # type: ignore[union-attr]
        "python": "no run 'zzzzzz'. Runner().store.runs.recent() lists recent runs.",
        "notebook": "no run 'zzzzzz'. Run %gorgon runs to list recent runs.",
        "cli": "no run 'zzzzzz'. Run 'gorgon runs' to list recent runs."}),
    ("unknown approval", lambda runner: runner.store.approvals.get("nosuchid"), {  # type: ignore[union-attr]
        "python": "no approval 'nosuchid'. Runner().approvals() lists the pending ones.",
        "notebook": "no approval 'nosuchid'. Run %gorgon approvals to list the pending ones.",
        "cli": "no approval 'nosuchid'. Run 'gorgon approvals' to list the pending ones."}),
    ("unknown schedule", lambda runner: runner.store.jobs.get_schedule("weekly"), {  # type: ignore[union-attr]
        "python": "no schedule 'weekly'. Runner().store.jobs.schedules() lists them.",
        "notebook": "no schedule 'weekly'. Run %gorgon schedules to list them.",
        "cli": "no schedule 'weekly'. Run 'gorgon schedules' to list them."}),
    ("unknown job", lambda runner: runner.store.jobs.get("nojob"), {  # type: ignore[union-attr]
        "python": "no job 'nojob'. Runner().store.jobs.recent() lists recent jobs.",
        "notebook": "no job 'nojob'. Run %gorgon jobs to list recent jobs.",
        "cli": "no job 'nojob'. Run 'gorgon jobs' to list recent jobs."}),
    ("unknown workflow", lambda runner: Workflow.load("dev_plan_build_tst_review"), {
        "python": "no workflow named 'dev_plan_build_tst_review' (did you mean 'dev_plan_build_test_review'?). "
                  "gorgon_nb.workflow.list_workflows() lists them; or pass a file path.",
        "notebook": "no workflow named 'dev_plan_build_tst_review' (did you mean 'dev_plan_build_test_review'?). "
                    "Run %gorgon workflows to list them, or pass a file path.",
        "cli": "no workflow named 'dev_plan_build_tst_review' (did you mean 'dev_plan_build_test_review'?). "
               "Run 'gorgon workflows' to list them, or pass a file path."}),
    ("missing input", lambda runner: runner.execution("dev_plan_build_test_review", {}), {
        "python": f"missing required input 'feature_request' ({REQUEST}): pass inputs={{'feature_request': ...}}",
        "notebook": f"missing required input 'feature_request' ({REQUEST}): "
                    "add -v feature_request=... to the %%gorgon or %gorgon run line",
        "cli": f"missing required input 'feature_request' ({REQUEST}): pass -v feature_request=...",
        "sidebar": f"missing required input 'feature_request' ({REQUEST}): "
                   "add feature_request=... to the /run line"}),
]


@pytest.mark.parametrize(("action", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_core_messages_in_each_surfaces_words(runner: Runner, action: Callable[[Runner], object],
                                              expected: dict[Surface, str]) -> None:
    error = _raised(lambda: action(runner))
    # the sidebar says what a notebook says, unless the message has words of its own for it
    expected = {"sidebar": expected["notebook"], **expected}
    assert {surface: error.for_surface(surface) for surface in SURFACES} == expected
    assert str(error) == expected["python"]  # what a traceback shows


def test_a_file_that_is_gone_names_the_listing_of_each_surface(tmp_path: Path) -> None:
    error = _raised(lambda: Workflow.from_file(tmp_path / "gone.yaml"))
    assert str(error) == (f"no workflow file at {tmp_path / 'gone.yaml'}; check the path. "
                          "gorgon_nb.workflow.list_workflows() lists the bundled ones.")
    assert error.for_surface("cli").endswith("check the path. Run 'gorgon workflows' to list the bundled ones.")


def test_a_missing_sub_workflow_is_a_problem_without_advice(tmp_path: Path) -> None:
    (tmp_path / "outer.yaml").write_text("id: outer\nsteps:\n  - id: inner\n    workflow: dev_plan_bild_test_review\n")
    problems = Workflow.from_file(tmp_path / "outer.yaml").problems()
    assert [p.message for p in problems] == [
        "no workflow named 'dev_plan_bild_test_review' (did you mean 'dev_plan_build_test_review'?)."]
    assert "dev_plan_build_test_review" in list_workflows()


def test_the_python_api_says_python(runner: Runner) -> None:
    with pytest.raises(InputError) as caught:
        runner.run("dev_plan_build_test_review")
    assert "inputs={'feature_request': ...}" in str(caught.value) and "-v" not in str(caught.value)


# -- the notebook ----------------------------------------------------------------------------------




@pytest.mark.parametrize(("line", "expected"), [
    ("show zzzzzz", "no run 'zzzzzz'. Run %gorgon runs to list recent runs."),
    ("resume zzzzzz", "no run 'zzzzzz'. Run %gorgon runs to list recent runs."),
    ("jobs cancel nojob", "no job 'nojob'. Run %gorgon jobs to list recent jobs."),
    ("schedules pause weekly", "no schedule 'weekly'. Run %gorgon schedules to list them."),
    ("run dev_plan_build_test_review", f"missing required input 'feature_request' ({REQUEST}): "
                                       "add -v feature_request=... to the %%gorgon or %gorgon run line"),
    ("run dev_plan_build_tst_review", "Run %gorgon workflows to list them, or pass a file path. "
                                      "Workflows named with %%gorgon --name also work."),
])
def test_the_magics_say_magics(ip: InteractiveShell, line: str, expected: str) -> None:
    with pytest.raises(MagicError) as caught:
        ip.run_line_magic("gorgon", line)
    assert expected in str(caught.value)
    assert "'gorgon " not in str(caught.value) and "Runner()" not in str(caught.value)


def test_a_cell_missing_an_input_says_how_to_pass_it_on_the_cell(ip: InteractiveShell) -> None:
    outcome = ip.run_cell("%%gorgon\ninputs:\n  topic: {type: string}\nsteps:\n  - id: a\n    llm: '{{ inputs.topic }}'\n")
    assert isinstance(outcome.error_in_exec, MagicError)
    assert str(outcome.error_in_exec) == ("missing required input 'topic': "
                                          "add -v topic=... to the %%gorgon or %gorgon run line")


def test_the_store_on_its_own_says_python(tmp_path: Path) -> None:
    with Store(tmp_path / "own.db") as store, pytest.raises(NotFoundError) as caught:
        store.runs.get("zzzzzz")
    assert str(caught.value).endswith("Runner().store.runs.recent() lists recent runs.")


# -- the drawing of the tree ------------------------------------------------------------------


def _drawn_tree() -> dict[str, str]:
    """Each class of the drawing in ``gorgon_nb/errors.py``'s docstring, with its parent."""
    import gorgon_nb.errors

    parents: dict[str, str] = {}
    path: list[str] = []
    for line in (gorgon_nb.errors.__doc__ or "").splitlines():
        if line.strip() == "GorgonError":
            path = ["GorgonError"]
            continue
        connector = max(line.find("├── "), line.find("└── "))
        if not path or connector < 0:
            continue
        depth = (connector - 4) // 4 + 1  # the root's children stand at column 4, one level each 4 more
        name = line[connector + 4:].split()[0]
        del path[depth:]
        parents[name] = path[-1]
        path.append(name)
    return parents


def _defined_tree() -> dict[str, tuple[str, str]]:
    """Each class of gorgon_nb that derives from a class of the tree: its parent and module."""
    import ast

    import gorgon_nb

    package = Path(gorgon_nb.__file__).parent
    classes: dict[str, tuple[str, str]] = {}
    for file in sorted(package.rglob("*.py")):
        module = ".".join(file.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) \
                        else None
                    if name is not None:
                        classes.setdefault(node.name, (name, module))
    tree = {"GorgonError"}
    found: dict[str, tuple[str, str]] = {}
    while True:  # a class belongs once its parent does
        more = {name: seen for name, seen in classes.items() if seen[0] in tree and name not in tree}
        if not more:
            return found
        found |= more
        tree |= set(more)


def test_the_drawing_shows_every_class_of_the_tree_under_its_parent() -> None:
    import importlib

    drawn, defined = _drawn_tree(), _defined_tree()
    assert {"ChatError", "TemplateError", "RunFailed", "LimitExceededError"} <= set(drawn)
    assert drawn == {name: parent for name, (parent, _) in defined.items()}
    for name, (parent, module) in defined.items():
        cls = getattr(importlib.import_module(module), name)
        assert [base.__name__ for base in cls.__bases__] == [parent], name
        assert issubclass(cls, GorgonError)


def test_a_template_error_is_a_gorgon_error_of_a_run() -> None:
    from gorgon_nb.engine.templating import TemplateError, compile_template
    from gorgon_nb.errors import ExecutionError

    with pytest.raises(ExecutionError) as caught:
        compile_template("{{ inputs.missing }}").render({"inputs": {}})
    assert isinstance(caught.value, TemplateError) and not caught.value.retryable
