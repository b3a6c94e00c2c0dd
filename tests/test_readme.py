"""Every code block of README.md, run as the README says, so the README cannot drift from the code.

Blocks are read from README.md at test time and sorted by ``readme_blocks.Block.kind``:
shell commands run as real ``gorgon`` processes in a folder laid out like the checkout,
Python runs (in an event loop when it awaits), notebook cells and magics run in a real
IPython shell, workflows are validated and run on the offline provider, fragments of steps
are validated inside a workflow, config files go through the config loader, and printed
output is compared with what the command prints now. A block that cannot run here is
marked in the README (``<!-- no-test: REASON -->``); any other block of no known kind fails.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.metadata
import importlib.util
import inspect
import io
import json
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from packaging.requirements import Requirement
from readme_blocks import MARKERS, Block, Command, read_blocks, shell_commands, toml_leaves
from support import BROKEN_WORKFLOW, REPO, env_without_keys

from gorgon_nb.config import Config, load_config
from gorgon_nb.magics.parsing import parse_agent, parse_run
from gorgon_nb.model.run import RunResult, RunStatus
from gorgon_nb.runner import Runner
from gorgon_nb.testing.notebooks import write_notebook
from gorgon_nb.workflow import Workflow

README = REPO / "README.md"
BLOCKS = read_blocks(README)
VENV_BIN = Path(sys.executable).parent  # not resolved: the venv's python may link to the system's
GORGON = VENV_BIN / "gorgon"

# What the README's notebook cells expect the notebook to have defined before them.
NOTEBOOK_VARIABLES = {"df_summary": "120 rows; revenue: mean 43.2, min 0.5, max 310; no missing values"}
# A value for each required input of a README workflow, by type.
SAMPLE_INPUTS = {"string": "Add a CSV export", "integer": 3, "number": 1.5, "boolean": True,
                 "list": ["a", "b"], "object": {"a": 1}, "any": "x"}
TOKEN_VARIABLES = ("GITHUB_TOKEN", "NOTION_TOKEN", "SLACK_BOT_TOKEN", "GORGON_GMAIL_TOKEN_FILE")
PLACEHOLDERS = ("RUN", "RUN_ID")

# The files an output sample's command reads: the README shows the output, not the input.
OUTPUT_FILES = {
    "broken.yaml": BROKEN_WORKFLOW,
}

# The workflows behind the README's RUN placeholders: one that a person can stop at a gate,
# and one whose last step fails until a file exists (so a run of it can fail and be resumed).
GATE = """\
id: gate
steps:
  - id: plan
    agent: planner
    task: Plan the release.
  - id: go_live
    approval: Go live?
    depends_on: [plan]
"""
DURABLE = """\
id: durable
inputs:
  key: {{type: string, default: a}}
steps:
  - id: plan
    agent: planner
    task: "Plan {{{{ inputs.key }}}}"
  - id: build
    agent: builder
    context: "{{{{ steps.plan.output }}}}"
  - id: check
    llm: "Check {{{{ steps.build.output }}}}"
    model: "checker:m"
    retry: 0
"""
# The checker answers offline; a failed run of DURABLE is made with it pointed at a closed port.
CHECKER = '[providers.checker]\nkind = "offline"\n'


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@dataclass
class Checkout:
    """A temporary folder laid out like the checkout (``.venv``, ``workflows/``, a notebook in
    ``reports/``), with a GORGON_HOME of its own, where the README's commands run."""

    root: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    started: list[subprocess.Popen[str]] = field(default_factory=list)
    _runner: Runner | None = None

    def gorgon(self, *args: str) -> Done:
        done = subprocess.run([str(GORGON), *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=120, check=False)
        return Done(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str) -> subprocess.Popen[str]:
        """A command left running; one still running when the test ends is killed then."""
        process = subprocess.Popen([str(GORGON), *args], cwd=self.root, env=self.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        self.started.append(process)
        return process

    def runner(self) -> Runner:
        """The Python API on the same GORGON_HOME as the commands."""
        if self._runner is None:
            self._runner = Runner(load_config(env=self.env))
        return self._runner


@pytest.fixture
def checkout(tmp_path: Path, home: Path) -> Iterator[Checkout]:
    root = tmp_path / "checkout"
    root.mkdir()
    (root / ".venv").symlink_to(VENV_BIN.parent, target_is_directory=True)
    (root / "workflows").symlink_to(REPO / "workflows", target_is_directory=True)
    write_notebook(str(root / "reports" / "weekly.ipynb"), "total = days * 2", parameters="region = 'US'\ndays = 1")
    (root / "gate.yaml").write_text(GATE)
    (root / "durable.yaml").write_text(DURABLE.format())
    (home / "config.toml").write_text(CHECKER)
    env = {**env_without_keys(), "GORGON_HOME": str(home), "COLUMNS": "200",
           "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("GORGON_DEBUG", None)
    made = Checkout(root, home, env)
    yield made
    for process in made.started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


# -- the blocks ------------------------------------------------------------------------------


def test_the_readme_has_blocks_of_every_kind() -> None:
    kinds = {block.kind for block in BLOCKS}
    assert {"shell", "python", "ipython", "workflow", "steps", "config", "output", "skip"} <= kinds, kinds


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_readme_block(block: Block, checkout: Checkout, monkeypatch: pytest.MonkeyPatch) -> None:
    where = f"README.md:{block.line}"
    assert not block.marker or block.marker in MARKERS, f"{where}: unknown marker '{block.marker}'; use {MARKERS}"
    if block.kind == "skip":
        assert block.marker_value, f"{where}: <!-- no-test: REASON --> needs its reason"
        pytest.skip(f"{where}: {block.marker_value}")
    if block.kind == "unknown":
        pytest.fail(f"{where}: a ```{block.lang} block this test does not know how to run: teach "
                    "tests/test_readme.py to run it, or mark it <!-- no-test: REASON --> on the line before")
    monkeypatch.chdir(checkout.root)
    RUNNERS[block.kind](block, checkout, monkeypatch)


# -- shell -------------------------------------------------------------------------------------


def run_shell(block: Block, checkout: Checkout, monkeypatch: pytest.MonkeyPatch) -> None:
    for command in shell_commands(block.text):
        program = command.words[0]
        if program in ("gorgon", ".venv/bin/gorgon"):
            run_gorgon(command, checkout)
        elif program in SETUP:
            SETUP[program](command)
        else:
            pytest.fail(f"README.md:{block.line}: `{command.line}`: '{program}' is not a command this test "
                        "runs; mark the block <!-- no-test: REASON -->, or teach tests/test_readme.py")


def run_gorgon(command: Command, checkout: Checkout) -> None:
    args = list(command.words[1:])
    prepared = None
    if any(word in PLACEHOLDERS for word in args):
        make = PREPARED_RUNS.get(args[0])
        assert make is not None, f"`{command.line}`: no run is prepared for 'gorgon {args[0]} RUN'"
        prepared = make(checkout)
        args = [prepared.run_id if word in PLACEHOLDERS else word for word in args]
    if args[0] == "scheduler":
        done = run_until_interrupted(checkout, args)
    else:
        done = checkout.gorgon(*args)
    assert done.code == 0, f"`{command.line}` as `gorgon {shlex.join(args)}`:\n{done}"
    assert "Traceback" not in done.out + done.err and "internal error" not in done.err, done
    if prepared is not None:
        prepared.check(done)


def run_until_interrupted(checkout: Checkout, args: list[str]) -> Done:
    """A command that runs until Ctrl-C: once it says it runs, interrupt it as Ctrl-C would."""
    process = checkout.start(*args)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in process.stdout or ():
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    while "Ctrl-C" not in "".join(seen):
        line = lines.get(timeout=60)
        assert line is not None, f"`gorgon {shlex.join(args)}` ended before it said it runs:\n{''.join(seen)}"
        seen.append(line)
    process.send_signal(signal.SIGINT)
    code = process.wait(timeout=60)
    while (line := lines.get(timeout=60)) is not None:  # the rest, up to the end of its output
        seen.append(line)
    output = "".join(seen)
    assert "stopped" in output, output
    return Done(code, output, "")


@dataclass
class PreparedRun:
    run_id: str
    check: Callable[[Done], None] = lambda done: None


def finished_run(checkout: Checkout) -> PreparedRun:
    result = checkout.runner().run(checkout.root / "durable.yaml")
    assert result.ok, result.error
    return PreparedRun(result.run_id, lambda done: None)


def shown_run(checkout: Checkout) -> PreparedRun:
    run = finished_run(checkout)

    def check(done: Done) -> None:
        assert run.run_id in done.out and "plan" in done.out and "build" in done.out, done

    return PreparedRun(run.run_id, check)


def failed_run(checkout: Checkout) -> PreparedRun:
    """A run that failed at its last step: resuming it runs that step only, now that it can pass."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    config = checkout.home / "config.toml"
    config.write_text(f'[providers.checker]\nbase_url = "http://127.0.0.1:{closed}/v1"\n')
    failed = Runner(load_config(env=checkout.env)).run(checkout.root / "durable.yaml")
    assert failed.status is RunStatus.FAILED and failed.usage.calls == 2, failed
    config.write_text(CHECKER)  # the checker is back

    def check(done: Done) -> None:
        resumed = checkout.runner().store.runs.get(failed.run_id)  # type: ignore[union-attr]
        assert resumed.status is RunStatus.SUCCEEDED, done
        assert resumed.usage.calls == 3, "a resumed run asked plan or build again"  # only check was new

    return PreparedRun(failed.run_id, check)


def waiting_run(checkout: Checkout) -> PreparedRun:
    """A run waiting at an approval in a `gorgon run` process of its own."""
    process = checkout.start("run", "gate.yaml", "-q")
    store = checkout.runner().store
    assert store is not None
    deadline = time.monotonic() + 60
    while not (waiting := store.runs.recent(5, status="waiting")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.1)
    run_id = waiting[0].run_id

    def check(done: Done) -> None:
        process.wait(timeout=60)
        assert store.runs.get(run_id).status is RunStatus.CANCELLED, done

    return PreparedRun(run_id, check)


PREPARED_RUNS: dict[str, Callable[[Checkout], PreparedRun]] = {
    "show": shown_run, "replay": finished_run, "fork": finished_run, "resume": failed_run, "cancel": waiting_run,
}


def check_venv(command: Command) -> None:
    """`python3 -m venv .venv`: the tests run in that virtualenv."""
    assert command.words == ("python3", "-m", "venv", ".venv"), command.line
    assert (VENV_BIN.parent / "pyvenv.cfg").is_file(), f"{VENV_BIN.parent} is not a virtualenv"


def check_pip_install(command: Command) -> None:
    """`.venv/bin/pip install [-c LOCK] -e .[EXTRAS]`: this checkout is installed, editable, with
    what its extras need; the constraints file is in the checkout."""
    words = list(command.words[1:])
    assert words[:1] == ["install"], command.line
    spec = None
    rest = iter(words[1:])
    for word in rest:
        if word == "-c":
            constraints = next(rest)
            assert (REPO / constraints).is_file(), f"`{command.line}`: no {constraints} in the checkout"
        elif word == "-e":
            spec = next(rest)
        else:
            pytest.fail(f"`{command.line}`: the option '{word}' is not one this test knows")
    assert spec is not None and (spec == "." or spec.startswith(".[")), command.line
    import gorgon_nb

    assert Path(gorgon_nb.__file__).resolve().is_relative_to(REPO.resolve()), gorgon_nb.__file__
    direct = json.loads(importlib.metadata.distribution("gorgon-nb").read_text("direct_url.json") or "{}")
    assert direct.get("dir_info", {}).get("editable"), "gorgon-nb is not installed with -e"
    extras = [extra.strip() for extra in spec[2:-1].split(",")] if spec != "." else []
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in extras:
        assert extra in declared, f"`{command.line}`: pyproject.toml has no extra '{extra}'"
        for requirement in map(Requirement, declared[extra]):
            if requirement.name == "gorgon-nb":
                continue
            installed = importlib.metadata.version(requirement.name)
            assert requirement.specifier.contains(installed, prereleases=True), (requirement, installed)


SETUP: dict[str, Callable[[Command], None]] = {"python3": check_venv, ".venv/bin/pip": check_pip_install}


# -- Python ----------------------------------------------------------------------------------


def run_python(block: Block, checkout: Checkout, monkeypatch: pytest.MonkeyPatch) -> None:
    # Blank lines first, so a traceback names the README's own line.
    code = compile("\n" * block.line + block.text, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    with contextlib.redirect_stdout(io.StringIO()):
        if code.co_flags & inspect.CO_COROUTINE:
            asyncio.run(eval(code, namespace))
        else:
            exec(code, namespace)
    for name, value in namespace.items():
        if isinstance(value, RunResult):
            assert value.ok, f"README.md:{block.line}: {name} is a {value.status} run: {value.error}"


# -- notebook cells and magics -------------------------------------------------------------------




def run_ipython(block: Block, checkout: Checkout, monkeypatch: pytest.MonkeyPatch) -> None:
    ip = InteractiveShell.instance()
    if "%load_ext gorgon_nb" not in block.text and "gorgon" not in ip.magics_manager.magics["cell"]:
        ip.run_line_magic("load_ext", "gorgon_nb")  # as the README's cell before this one did
    before = set(ip.user_ns)
    ip.user_ns.update(NOTEBOOK_VARIABLES)
    ip.user_ns.pop("_gorgon", None)
    try:
        with capture_output():
            outcome = ip.run_cell(block.text)
        check_cell(block, ip, outcome)
    finally:  # the shell is shared with other tests: leave its variables as they were
        for name in set(ip.user_ns) - before:
            del ip.user_ns[name]


def check_cell(block: Block, ip: InteractiveShell, outcome: Any) -> None:
    """The cell ran; a %%gorgon cell's run succeeded, with outputs, in _gorgon and in its --out."""
    assert outcome.success, f"README.md:{block.line}: {outcome.error_before_exec or outcome.error_in_exec}"
    if "%load_ext gorgon_nb" in block.text:
        assert "gorgon" in ip.magics_manager.magics["line"] and "gorgon" in ip.magics_manager.magics["cell"]
    first = block.text.splitlines()[0]
    if first.startswith("%%gorgon"):
        options = first.removeprefix("%%gorgon").strip()
        out = parse_agent(options[len("agent"):]).out if options.startswith("agent") else parse_run(options, cell=True).out
        result = ip.user_ns.get("_gorgon")
        assert isinstance(result, RunResult) and result.ok, result
        assert result.outputs and all(result.outputs.values()), result.outputs
        if out:
            assert ip.user_ns[out] is result


# -- workflows -------------------------------------------------------------------------------


def run_workflow(block: Block, checkout: Checkout, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = checkout.runner()
    workflow = Workflow.from_yaml(block.text, path=checkout.root / f"readme-line{block.line}.yaml")
    workflow.validate(runner.config)
    inputs = {name: SAMPLE_INPUTS[spec.type] for name, spec in workflow.spec.inputs.items() if spec.is_required}
    # a workflow that says allow_code runs as its reader is told to run it: with code allowed
    result = runner.run(workflow, inputs, allow_code=workflow.spec.allow_code)
    assert result.ok, f"README.md:{block.line}: {result.status}: {result.error}"
    assert result.outputs and all(result.outputs.values()), result.outputs


def run_steps(block: Block, checkout: Checkout, monkeypatch: pytest.MonkeyPatch) -> None:
    """A list of steps, as a workflow of its own (allowing code when a step runs some)."""
    steps = textwrap.indent(textwrap.dedent(block.text), "  ")
    runs_code = any({"shell", "notebook", "python"} & set(step) for step in yaml.safe_load(block.text))
    allow = "allow_code: true\n" if runs_code else ""
    config = load_config()
    workflow = Workflow.from_yaml(f"id: readme_steps\n{allow}steps:\n{steps}")
    workflow.validate(config)
    # What is left is a service's token nobody set here: named, as the README says.
    for problem in workflow.problems(config):
        assert any(name in str(problem) for name in TOKEN_VARIABLES), f"README.md:{block.line}: {problem}"


# -- config files ------------------------------------------------------------------------------


def run_config(block: Block, checkout: Checkout, monkeypatch: pytest.MonkeyPatch) -> None:
    file = checkout.root / "config.toml"
    file.write_text(block.text)
    monkeypatch.setenv("GORGON_CONFIG", str(file))
    config = load_config()
    assert config.file == file
    for path, value in toml_leaves(tomllib.loads(block.text)):
        assert configured(config, path) == value, f"README.md:{block.line}: {'.'.join(path)} = {value!r} did not take"


def configured(config: Config, path: tuple[str, ...]) -> Any:
    """The setting a config file's ``path`` (``("providers", "vllm", "model")``) ends up as."""
    match path:
        case ("defaults", "model"):
            return config.default_model
        case ("budget", "daily_usd"):
            return config.daily_usd
        case ("offline", "delay"):
            return config.offline_delay
        case ("scheduler", key):
            return getattr(config.scheduler, key)
        case ("providers", name, key):
            return getattr(config.providers[name], key)
        case ("integrations", name, key):
            return getattr(config.integrations[name], key)
        case ("mcp", "servers", name, key):
            return getattr(config.mcp_servers[name], key)
        case ("mcp", "servers", name, key, inner):
            return getattr(config.mcp_servers[name], key)[inner]
        case ("webhooks", name, key):
            return getattr(config.webhooks[name], key)
        case ("roles", name, key):
            value = getattr(config.roles[name], key)
            return list(value) if isinstance(value, tuple) else value  # a role keeps its lists as tuples
    pytest.fail(f"no check of the config setting {'.'.join(path)}; add it to configured()")


# -- printed output ------------------------------------------------------------------------------


def run_output(block: Block, checkout: Checkout, monkeypatch: pytest.MonkeyPatch) -> None:
    words = shlex.split(block.marker_value)
    assert words[0] == "gorgon", f"README.md:{block.line}: output-of a command that is not gorgon: {words}"
    for name, text in OUTPUT_FILES.items():
        (checkout.root / name).write_text(text)
    done = checkout.gorgon(*words[1:])
    assert "Traceback" not in done.out + done.err, done
    assert _lines(done.out) == _lines(block.text), f"README.md:{block.line}: `{block.marker_value}` prints:\n{done}"


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


RUNNERS: dict[str, Callable[[Block, Checkout, pytest.MonkeyPatch], None]] = {
    "shell": run_shell, "python": run_python, "ipython": run_ipython, "workflow": run_workflow,
    "steps": run_steps, "config": run_config, "output": run_output,
}
