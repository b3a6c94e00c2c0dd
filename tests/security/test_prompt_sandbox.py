"""``%%gorgon agent`` prompts in a real IPython shell: only the notebook's own values are
reachable, never private names, IPython's own names, modules or builtins."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from gorgon_nb.magics.errors import MagicError

MARK = "GORGON_PROMPT_RAN_CODE"


@pytest.fixture
def ip(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    if "gorgon" not in shell.magics_manager.magics["cell"]:
        shell.run_line_magic("load_ext", "gorgon_nb")
    monkeypatch.delenv(MARK, raising=False)
    shell.run_cell("import os, subprocess\nfrom pathlib import Path\nfrom os import system\n"
                   "class Holder: pass\nholder = Holder()\nholder.mod = os\nholder.run = subprocess.run\n"
                   "shelf = {'mod': os, 'eval': eval, 'words': ['a', 'b']}\n"
                   "evil = eval\n_private = 'kept'\n"
                   "def shout(text): return text.upper()\n"
                   "summary = 'rows: 120'\n")
    yield shell
    for name in ("os", "subprocess", "Path", "system", "Holder", "holder", "shelf", "evil", "_private", "shout",
                 "summary", "_gorgon"):
        shell.user_ns.pop(name, None)


def agent(ip: InteractiveShell, prompt: str, flags: str = "") -> tuple[Any, BaseException | None]:
    with capture_output() as captured:
        result = ip.run_cell(f"%%gorgon agent reviewer {flags}\n{prompt}")
    return captured, result.error_in_exec


def refused(ip: InteractiveShell, prompt: str) -> str:
    _, error = agent(ip, prompt)
    assert isinstance(error, MagicError), repr(error)
    assert MARK not in os.environ  # the code in the prompt never ran
    return str(error)


@pytest.mark.parametrize(
    ("prompt", "said"),
    [
        (f'{{{{ __builtins__.exec("import os; os.environ[\'{MARK}\'] = \'1\'") }}}}',
         "'__builtins__' starts with _ and so is private"),
        ('{{ __builtins__["eval"]("1") }}', "private"),
        ("{{ _private }}", "'_private' starts with _"),
        (f"{{{{ os.putenv('{MARK}', '1') }}}}", "'os' is a module"),
        ("{{ system('true') }}", "'system' is a builtin"),
        ("{{ evil('1 + 1') }}", "'evil' is a builtin"),
        ("{{ Path('/etc/passwd').read_text() }}", "'Path' was imported, not defined in the notebook"),
        (f"{{{{ get_ipython().run_cell('import os; os.environ[\"{MARK}\"] = \"1\"') }}}}",
         "'get_ipython' is IPython's own"),
        ("{{ exit }}", "'exit' is IPython's own"),
    ],
    ids=["__builtins__.exec", "__builtins__[]", "private", "module", "builtin-from-a-module", "builtin",
         "imported-class", "get_ipython", "exit"],
)
def test_what_a_prompt_cannot_reach_by_name(ip: InteractiveShell, prompt: str, said: str) -> None:
    message = refused(ip, prompt)
    assert said in message, message
    assert "a prompt can use notebook variables that hold values" in message


@pytest.mark.parametrize(
    "prompt",
    [
        f"{{{{ holder.mod.putenv('{MARK}', '1') }}}}",
        f"{{{{ holder.run(['sh', '-c', 'echo {MARK}']) }}}}",
        f"{{{{ shelf['mod'].putenv('{MARK}', '1') }}}}",
        f"{{{{ shelf.mod.putenv('{MARK}', '1') }}}}",
        "{{ shelf['eval']('1') }}",
        "{{ summary.__class__ }}",
    ],
    ids=["attribute-module", "attribute-imported-function", "item-module", "item-as-attribute", "item-builtin",
         "dunder"],
)
def test_what_a_prompt_cannot_reach_through_a_value(ip: InteractiveShell, prompt: str) -> None:
    message = refused(ip, prompt)
    assert "the prompt could not be filled in" in message and "unsafe" in message, message


def test_the_notebooks_own_values_and_functions_still_fill_a_prompt(ip: InteractiveShell) -> None:
    captured, error = agent(ip, "{{ shout(summary) }} / {{ summary.split(':')[0] }} / {{ shelf['words']|join('+') }}"
                                " / {{ range(4)|sum }} / keep {\"a\": 1}")
    assert error is None, error
    assert ip.user_ns["_gorgon"].inputs["prompt"] == 'ROWS: 120 / rows / a+b / 6 / keep {"a": 1}'
    assert captured.outputs  # the answer was shown


@pytest.mark.parametrize("flags", ["", "--format text", "--format json", "--format code --insert"])
def test_what_the_cell_shows_of_an_answer_is_scrubbed(ip: InteractiveShell, flags: str) -> None:
    # The offline reviewer quotes the request, key and all, in its answer.
    key = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl"
    ip.user_ns["leaked"] = f"the deploy key is {key}"
    ip.rl_next_input = None
    try:
        captured, error = agent(ip, "Review this note: {{ leaked }}", flags)
        assert error is None, error
        assert key in json.dumps(ip.user_ns["_gorgon"].outputs["reviewer"])  # the result keeps it as it came
        shown = json.dumps([o.data for o in captured.outputs], default=str)
        assert "***" in shown and key not in shown
        # A terminal shell keeps the inserted cell here; the kernel's shell sends it as a payload.
        inserted = ip.rl_next_input or ""
        assert ("***" in inserted) == ("--insert" in flags) and key not in inserted
    finally:
        ip.user_ns.pop("leaked", None)
        ip.rl_next_input = None
