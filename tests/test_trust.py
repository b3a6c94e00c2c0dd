"""The trust model (gorgon_nb/engine/trust.py): a workflow file runs code on this machine, or
reaches outside its folder, only with its own consent and the caller's; the same refusal from
the CLI, the magics, Python and the sidebar's chat; a notebook's author needs none for the
notebook's own functions.

Each hostile file would leave a mark (a file named ``pwned``) if any of its code ran.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from test_cli import gorgon

from gorgon_nb.chat import ChatError, ChatService
from gorgon_nb.errors import UsageError, WorkflowError
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.testing.notebooks import write_notebook
from gorgon_nb.workflow import Workflow

MARK = "pwned"


def _hostile(folder: Path) -> dict[str, str]:
    """Workflow files that each try to run code, by every door the review found open."""
    outside = folder.parent / "outside"
    touch = f"touch {folder / MARK}"
    return {
        "os_system.yaml": f"id: a\nsteps:\n  - id: s\n    python: os:system\n    args: {{command: '{touch}'}}\n",
        "getoutput.yaml": f"id: a\nsteps:\n  - id: s\n    python: subprocess:getoutput\n    args: {{cmd: '{touch}'}}\n",
        "run_path.yaml": "id: a\nsteps:\n  - id: s\n    python: runpy:run_path\n    args: {path_name: x.py}\n",
        "beside.yaml": "id: a\nsteps:\n  - id: s\n    python: evil_module:run\n",
        "notebook.yaml": f"id: a\nsteps:\n  - id: s\n    notebook: {outside / 'evil.ipynb'}\n",
        "sub_up.yaml": "id: a\nsteps:\n  - id: s\n    workflow: ../outside/evil.yaml\n",
        "sub_absolute.yaml": f"id: a\nsteps:\n  - id: s\n    workflow: {outside / 'evil.yaml'}\n",
        "shell.yaml": f"id: a\nsteps:\n  - id: s\n    shell: {touch}\n",
        "duplicate.yaml": f"id: a\nsteps:\n  - id: s\n    python: builtins:len\n    python: os:system\n"
                          f"    args: {{command: '{touch}'}}\n",
        # the file's consent alone is not enough: the caller has not given theirs
        "consenting_file.yaml": f"id: a\nallow_code: true\nsteps:\n  - id: s\n    shell: {touch}\n",
    }


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    folder, outside = tmp_path / "shared", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (outside / "evil.yaml").write_text("id: evil\nsteps:\n  - id: s\n    llm: hi\n")
    write_notebook(outside / "evil.ipynb", f"open({str(folder / MARK)!r}, 'w').close()")
    (folder / "evil_module.py").write_text(f"open({str(folder / MARK)!r}, 'w').close()\ndef run():\n    return 1\n")
    for name, text in _hostile(folder).items():
        (folder / name).write_text(text)
    return folder


FILES = sorted(_hostile(Path("/nowhere/shared")))


@pytest.mark.parametrize("name", FILES)
def test_the_cli_refuses_each_hostile_file_and_nothing_runs(hostile: Path, home: Path, name: str) -> None:
    ran = gorgon(home, "run", name, cwd=hostile)
    assert ran.code == 2, ran
    said = ran.flat
    if name == "duplicate.yaml":
        assert "the key 'python' is written twice in one mapping" in said
    elif name == "consenting_file.yaml":
        assert "runs code on this machine (step 's' runs the shell command" in said
        assert "run it with --allow-code, if you trust it" in said
    else:
        assert "which runs code on this machine, and the workflow does not allow code" in said
        assert "add 'allow_code: true' at its top" in said
    assert "Traceback" not in said
    assert not (hostile / MARK).exists()
    assert gorgon(home, "runs", "--json").out.strip() == "[]"  # refused before any run began


def test_validate_names_every_step_that_needs_consent(hostile: Path, home: Path) -> None:
    (hostile / "many.yaml").write_text(
        "id: many\nsteps:\n  - id: one\n    shell: 'true'\n  - id: two\n    python: os:getcwd\n"
        "  - id: three\n    python: json:dumps\n    args: {obj: 1}\n")
    done = gorgon(home, "validate", "many.yaml", cwd=hostile)
    assert done.code == 2
    assert "many.yaml:4: one.shell: this step runs the shell command 'true'" in done.flat
    assert "many.yaml:6: two.python: this step calls os:getcwd" in done.flat
    assert "three" not in done.flat  # json:dumps is one of the safe functions


def test_both_consents_let_it_run(hostile: Path, home: Path) -> None:
    done = gorgon(home, "run", "consenting_file.yaml", "--allow-code", cwd=hostile)
    assert done.code == 0, done
    assert (hostile / MARK).exists()


def test_the_older_spelling_still_consents(hostile: Path, home: Path) -> None:
    (hostile / "old.yaml").write_text(f"id: old\nallow_shell: true\nsteps:\n  - id: s\n    shell: touch {MARK}\n")
    assert gorgon(home, "run", "old.yaml", "--allow-shell", cwd=hostile).code == 0
    assert (hostile / MARK).exists()


def test_a_sub_workflow_must_consent_itself_and_gets_the_callers_consent(hostile: Path, home: Path) -> None:
    (hostile / "child.yaml").write_text(f"id: child\nsteps:\n  - id: s\n    shell: touch {MARK}\n")
    (hostile / "parent.yaml").write_text("id: parent\nsteps:\n  - id: sub\n    workflow: child.yaml\n")
    refused = gorgon(home, "run", "parent.yaml", "--allow-code", cwd=hostile)
    assert refused.code == 2 and "the workflow does not allow code" in refused.flat
    (hostile / "child.yaml").write_text(f"id: child\nallow_code: true\nsteps:\n  - id: s\n    shell: touch {MARK}\n")
    unasked = gorgon(home, "run", "parent.yaml", cwd=hostile)  # the parent itself runs no code
    assert unasked.code == 1 and "runs code on this machine (step 's' runs the shell command" in unasked.flat
    assert not (hostile / MARK).exists()
    assert gorgon(home, "run", "parent.yaml", "--allow-code", cwd=hostile).code == 0
    assert (hostile / MARK).exists()


def test_python_says_it_in_its_words(hostile: Path, runner: Runner) -> None:
    with pytest.raises(UsageError) as refused:
        runner.run(Workflow.from_file(hostile / "consenting_file.yaml"))
    assert str(refused.value).endswith("run it with allow_code=True, if you trust it")
    with pytest.raises(WorkflowError, match="does not allow code"):
        runner.run(Workflow.from_file(hostile / "os_system.yaml"), allow_code=True)  # the file's consent is missing
    assert not (hostile / MARK).exists()


def _cell(ip: InteractiveShell, text: str) -> BaseException | None:
    with capture_output():
        outcome = ip.run_cell(text)
    return outcome.error_before_exec or outcome.error_in_exec


def test_the_magics_refuse_a_file_in_their_words(hostile: Path, ip: InteractiveShell) -> None:
    error = _cell(ip, f"%gorgon run {hostile / 'consenting_file.yaml'}")
    assert error is not None and "add --allow-code to the %%gorgon or %gorgon run line" in str(error)
    assert not (hostile / MARK).exists()
    assert _cell(ip, f"%gorgon run {hostile / 'consenting_file.yaml'} --allow-code") is None
    assert (hostile / MARK).exists()


def test_a_cell_may_call_its_notebooks_own_functions_without_consent(
        ip: InteractiveShell, tmp_path: Path) -> None:
    ip.user_ns["__name__"] = "__main__"
    assert _cell(ip, "def double(n):\n    return 2 * n") is None
    assert _cell(ip, "%%gorgon --out doubled\nsteps:\n  - id: d\n    python: __main__:double\n    args: {n: 21}") is None
    assert ip.user_ns["doubled"].outputs["d"] == 42
    # a function imported into the notebook is not the notebook's own
    assert _cell(ip, "from os import getcwd as where") is None
    error = _cell(ip, "%%gorgon\nsteps:\n  - id: w\n    python: __main__:where\n")
    assert error is not None and "not a function defined in this notebook" in str(error)


async def test_the_chat_never_runs_code(hostile: Path, home: Path, store: Store,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    workflows = home / "workflows"
    workflows.mkdir()
    (workflows / "risky.yaml").write_text(f"id: risky\nallow_code: true\nsteps:\n  - id: s\n    shell: touch {MARK}\n")
    monkeypatch.chdir(hostile)
    service = ChatService(Runner(store=store))
    session = service.create_session()
    with pytest.raises(ChatError) as refused:
        await service.send(session.id, "/run risky")
    assert "the chat does not run code; run it from a notebook or a terminal with --allow-code" in str(refused.value)
    assert not (hostile / MARK).exists() and service.messages(session.id) == []


def test_bundled_workflows_need_no_consent(tmp_path: Path) -> None:
    analytics = Workflow.load("analytics_ingest_analyze_visualize_report")
    assert analytics.bundled
    assert analytics.compile().code_uses == ()  # its python step calls gorgon-nb's own profiler
    copy = tmp_path / "analytics.yaml"  # the same file anywhere else is anyone's
    copy.write_text(Path(analytics.path or "").read_text())
    with pytest.raises(WorkflowError, match=r"profile\.python: this step calls gorgon_nb\.functions:profile_csv"):
        Workflow.from_file(copy).compile()
