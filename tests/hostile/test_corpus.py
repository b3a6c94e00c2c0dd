"""Hostile workflow files end fast, in bounded memory, with a message naming what they passed.

Each file of ``corpus/`` goes through ``Workflow.from_file`` and ``validate`` in this
process, and through the real ``gorgon validate`` and ``gorgon run`` commands in a
subprocess limited to 2 GiB of address space and 20 seconds. None may answer with a
traceback or an "internal error"; bad input exits 2, a failed run 1.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from gorgon_nb.chat import ChatError, ChatService
from gorgon_nb.config import Config
from gorgon_nb.errors import WorkflowError
from gorgon_nb.magics.errors import MagicError
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow, list_workflows

CORPUS = Path(__file__).resolve().parent / "corpus"
GORGON = Path(sys.executable).with_name("gorgon")
MEMORY = 2 * 1024**3
SECONDS = 20


@dataclass(frozen=True)
class Case:
    file: str
    load: str | None = None  # what loading or validating it says; None: it is a valid workflow
    run: str = ""  # what 'gorgon run' says (the load message when it does not load)
    run_code: int = 1
    env: dict[str, str] = field(default_factory=dict)


ALIASES = "more than the limit of 100,000 values in a workflow once YAML aliases are expanded"
NESTING = "more than the limit of 100 levels of nesting in a workflow file"
SIZE = "more than the limit of 4,000,000 characters (or items) a template may make"
NOT_BOOL = "is not true or false"

CASES = [
    # YAML aliases that expand to billions of values ("billion laughs"), in each place a value goes
    Case("alias_top.yaml", ALIASES),
    Case("alias_input_default.yaml", ALIASES),
    Case("alias_step_default.yaml", ALIASES),
    Case("alias_for_each.yaml", ALIASES),
    Case("alias_python_args.yaml", ALIASES),
    Case("alias_merge.yaml", ALIASES),
    Case("alias_recursive.yaml", "the alias *forever is inside the value its anchor &forever names"),
    # nesting thousands deep, which Python's parsers meet by recursion
    Case("deep_flow.yaml", NESTING),
    Case("deep_block.yaml", NESTING),
    Case("deep_alias.yaml", NESTING),
    Case("deep.json", NESTING),
    Case("deep_gorgon.json", NESTING),
    Case("tpl_fromjson_deep.yaml", run="fromjson: the JSON nests too deep to be read"),
    # text that is not UTF-8
    Case("bad_utf8.yaml", "the file is not UTF-8 text: byte 0xe9"),
    Case("bad_utf8.json", "the file is not UTF-8 text: byte 0xff"),
    Case("utf16.yaml", "the file is not UTF-8 text: byte 0xff"),
    Case("surrogate.yaml", "the text holds \\udcff, half of a UTF-16 surrogate pair"),
    Case("surrogate.json", "the text holds \\ud800, half of a UTF-16 surrogate pair"),
    # templates that would loop for hours or build gigabytes
    Case("tpl_nested_range.yaml", run="more than the limit of 1,000,000 operations per template render"),
    Case("tpl_output.yaml", run="the template wrote 4,000,0"),
    Case("tpl_string_repeat.yaml", run=f"this '*' would make 1,000,000,000 characters (or items), {SIZE}"),
    Case("tpl_list_repeat.yaml", run=f"this '*' would make 1,000,000,000 characters (or items), {SIZE}"),
    Case("tpl_lipsum.yaml", run=f"lipsum(1000000, max=100) would make 1,000,000,000 characters (or items), {SIZE}"),
    Case("tpl_range.yaml", run="more than the limit of 100,000 items in a template's range()"),
    Case("tpl_doubling.yaml", run=f"this '~' would make 4,194,304 characters (or items), {SIZE}"),
    Case("tpl_power.yaml", run="a number of about 1,000,000,000 digits, more than the limit of 10,000 digits in "
                                "a number a template makes"),
    Case("tpl_format_width.yaml", run=SIZE),
    Case("tpl_center.yaml", run=f"the center filter would make 1,000,000,000 characters (or items), {SIZE}"),
    Case("tpl_macro_recursion.yaml", run="the template calls itself too deep"),
    Case("tpl_when.yaml", run=SIZE),
    Case("tpl_input_default.yaml", run=f"default of input 'big': this '*' would make 1,000,000,000 characters (or "
                                       f"items), {SIZE}", run_code=2),
    # with the operation budget raised out of the way, the step's timeout still stops the render
    Case("tpl_timeout.yaml", run="the template was still rendering when the step's timeout of 2s passed",
         env={"GORGON_MAX_TEMPLATE_OPS": "1000000000000"}),
    # sizes: items, steps, runs, waits
    Case("size_for_each.yaml", run="for_each of step 'many' gave 1,000,000 items, more than the limit of 1,000 "
                                   "items for one for_each; set GORGON_MAX_FOR_EACH_ITEMS to raise the limit"),
    Case("size_for_each_literal.yaml", "for_each lists 1,001 items, more than the limit of 1,000 items for one "
                                       "for_each"),
    Case("size_nested_loops.yaml", "loop 'outer' can run 1,010,101 steps (100 rounds of up to 10,101), more than "
                                   "the limit of 5,000 steps per run"),
    Case("size_loop_for_each.yaml", run="more than the limit of 5,000 steps per run"),
    Case("size_self_sub_workflow.yaml", run="more than the limit of 5,000 steps per run"),
    Case("size_deep_sub_workflow.yaml", run="would run 9 sub-workflows deep (does it run itself?), more than the "
                                            "limit of 8 levels of sub-workflows"),
    Case("size_retry_inf.yaml", "flaky.retry.backoff: inf is not a finite number"),
    Case("size_retry_long.yaml", "a backoff of 1e+06s, more than the limit of 600 seconds of retry backoff"),
    # strings or numbers where true or false is meant
    Case("bool_allow_shell.yaml", f"allow_shell: 'yes' {NOT_BOOL}"),
    Case("bool_required.yaml", f"inputs.topic.required: 'no' {NOT_BOOL}"),
    Case("bool_jitter.yaml", f"hello.retry.jitter: 'off' {NOT_BOOL}"),
    Case("bool_auto_approve.yaml", f"post.auto_approve: 'true' {NOT_BOOL}"),
    Case("bool_when.yaml", "hello.when: 1 is neither true, false nor a condition"),
    Case("bool_until.yaml", "rounds.until: 0 is neither true, false nor a condition"),
    # names of a mapping's methods, read as what they name
    Case("names_dict_methods.yaml", run="2 the keys the values got", run_code=0),
    Case("names_step_items.yaml", run="3 items", run_code=0),
]

# Which limit each message names, by the variable that raises it.
RAISED_BY = {
    ALIASES: "GORGON_MAX_YAML_VALUES", NESTING: "GORGON_MAX_NESTING", SIZE: "GORGON_MAX_RENDERED_CHARS",
    "operations per template render": "GORGON_MAX_TEMPLATE_OPS", "range()": "GORGON_MAX_TEMPLATE_RANGE",
    "digits in a number": "GORGON_MAX_TEMPLATE_DIGITS",
    "steps per run": "GORGON_MAX_RUN_STEPS", "levels of sub-workflows": "GORGON_MAX_WORKFLOW_DEPTH",
    "items for one for_each": "GORGON_MAX_FOR_EACH_ITEMS", "seconds of retry backoff": "GORGON_MAX_RETRY_BACKOFF",
}


def test_every_corpus_file_has_a_case() -> None:
    files = {p.name for p in CORPUS.iterdir() if p.suffix in (".yaml", ".json")}
    assert files == {case.file for case in CASES}


def _flat(text: str) -> str:
    return " ".join(text.split())


def _names_its_limit(message: str) -> None:
    """A message that says 'more than the limit of' also says how to raise it."""
    for says, variable in RAISED_BY.items():
        if says in message:
            assert f"set {variable} to raise the limit" in message, message


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.file)
def test_loading_and_validating(case: Case, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    if case.load is None:
        Workflow.from_file(CORPUS / case.file).validate(config)
        return
    with pytest.raises(WorkflowError) as caught:
        Workflow.from_file(CORPUS / case.file).validate(config)
    message = _flat(str(caught.value))
    assert case.load in message
    _names_its_limit(message)


@pytest.mark.parametrize("case", [c for c in CASES if c.load is None and c.run_code == 1], ids=lambda c: c.file)
def test_running_in_this_process(case: Case, runner: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    result = runner.run(Workflow.from_file(CORPUS / case.file), allow_code=True)  # the python steps echo
    assert result.status == "failed"
    assert case.run in _flat(result.error or ""), result.error
    assert "internal error" not in (result.error or "")


@dataclass(frozen=True)
class Done:
    code: int
    text: str  # stdout and stderr, whitespace folded (the console wraps long lines)


def gorgon(home: Path, *args: str, env: dict[str, str] | None = None) -> Done:
    """The real command, in at most 2 GiB of address space and 20 seconds."""

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    environment = {k: v for k, v in os.environ.items() if not k.startswith("GORGON_MAX_") and k != "GORGON_DEBUG"}
    environment.update(GORGON_HOME=str(home), COLUMNS="200", **(env or {}))
    done = subprocess.run([str(GORGON), *args], capture_output=True, text=True, env=environment, cwd=CORPUS,
                          timeout=SECONDS, preexec_fn=bounded, check=False)
    text = done.stdout + "\n" + done.stderr
    assert "Traceback" not in text and "internal error" not in text, text
    assert "MemoryError" not in text, text
    return Done(done.returncode, _flat(text))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.file)
def test_gorgon_validate(case: Case, home: Path) -> None:
    done = gorgon(home, "validate", case.file, env=case.env)
    if case.load is None:
        assert done.code == 0, done.text
        assert f"✓ {case.file}" in done.text
        return
    assert done.code == 2, done.text
    assert case.load in done.text
    _names_its_limit(done.text)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.file)
def test_gorgon_run(case: Case, home: Path) -> None:
    done = gorgon(home, "run", case.file, "--allow-code", env=case.env)  # the python steps echo
    expected_code = 2 if case.load is not None else case.run_code
    assert done.code == expected_code, done.text
    assert (case.run or case.load or "") in done.text, done.text
    _names_its_limit(done.text)


def test_a_file_too_big_is_refused_unread(home: Path, tmp_path: Path, config: Config) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("id: big\nsteps:\n  - id: hello\n    llm: hi\n" + "# padding\n" * 200_000)
    with pytest.raises(WorkflowError) as caught:
        Workflow.from_file(big)
    size = big.stat().st_size
    assert f"the file is {size:,} bytes, more than the limit of 1,048,576 bytes for a workflow file" in str(caught.value)
    for command in ("validate", "run"):
        done = gorgon(home, command, str(big))
        assert done.code == 2, done.text
        assert "more than the limit of 1,048,576 bytes for a workflow file" in done.text
        assert "set GORGON_MAX_FILE_BYTES to raise the limit" in done.text


def test_hostile_files_among_your_workflows_leave_the_listing_fast(home: Path) -> None:
    """'gorgon workflows' loads each file of GORGON_HOME/workflows: a bomb there is one line of the list."""
    (home / "workflows").mkdir()
    for name in ("alias_top.yaml", "deep_flow.yaml", "deep.json", "bad_utf8.yaml"):
        shutil.copy(CORPUS / name, home / "workflows" / name)
    done = gorgon(home, "workflows")
    assert done.code == 0, done.text
    assert "alias_top" in done.text and "cannot load" in done.text
    assert "dev_plan_build_test_review" in done.text  # the others are still listed


# -- the magics and the server ----------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.file)
def test_the_magics(case: Case, ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    """``%gorgon run FILE`` in a real IPython shell: the same message, as a cell error."""
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(CORPUS)  # where hostile_steps.py is found
    with capture_output() as shown:
        outcome = ip.run_cell(f"%gorgon run {CORPUS / case.file} --allow-code")
    error = outcome.error_before_exec or outcome.error_in_exec
    if case.load is None and case.run_code == 0:
        assert error is None, error
        return
    assert isinstance(error, MagicError), error
    message = _flat(str(error))
    assert (case.run or case.load or "") in message, message
    assert "Traceback" not in shown.stdout + shown.stderr
    _names_its_limit(message)


async def test_the_chat_lists_and_refuses_them(home: Path, store: Store) -> None:
    """Every corpus file in GORGON_HOME/workflows: the chat's list of workflows still comes,
    and a /run of one that does not load is refused with its message."""
    (home / "workflows").mkdir()
    for case in CASES:
        if not case.env:
            (home / "workflows" / case.file).write_bytes((CORPUS / case.file).read_bytes())
    service = ChatService(Runner(store=store))
    session = service.create_session()
    listed = list_workflows()
    refused_ones = 0
    for case in CASES:
        name = Path(case.file).stem
        if case.env or case.load is None or name not in listed:
            continue
        with pytest.raises(ChatError) as refused:
            await service.send(session.id, f"/run {name}")
        assert "Traceback" not in str(refused.value) and "internal error" not in str(refused.value)
        refused_ones += 1
    assert refused_ones >= 20, refused_ones  # most of the corpus is listed, and each is refused
    assert service.messages(session.id) == []
