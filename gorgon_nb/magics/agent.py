"""``%%gorgon agent ROLE``: one prompt to one agent, streamed into the cell's output."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from IPython.display import JSON, Markdown, display

from gorgon_nb.engine.templating import JINJA_GLOBALS, TemplateError, compile_template
from gorgon_nb.errors import did_you_mean
from gorgon_nb.magics.errors import MagicError
from gorgon_nb.magics.parsing import AgentArgs
from gorgon_nb.magics.session import NotebookRun
from gorgon_nb.model.events import Event
from gorgon_nb.model.run import RunResult
from gorgon_nb.model.usage import format_cost

__all__ = ["ask_agent", "extract_code", "render_prompt"]

_FENCE = re.compile(r"```[\w+-]*\n(.*?)```", re.DOTALL)
_CODE_INSTRUCTION = "Answer with the code in one fenced code block, with brief notes after it."


def render_prompt(cell: str, namespace: Mapping[str, Any]) -> str:
    """The prompt with ``{{ name }}`` filled from notebook variables; other braces stay as they are."""
    try:
        template = compile_template(cell)
    except TemplateError as exc:
        raise MagicError(f"the prompt is not a valid template: {exc}") from None
    missing = sorted(template.refs.names - set(namespace) - JINJA_GLOBALS)
    if missing:
        name = missing[0]
        hint = did_you_mean(name, [k for k in namespace if not k.startswith("_")])
        raise MagicError(f"the prompt uses {{{{ {name} }}}}, but there is no notebook variable '{name}'"
                         + (f" ({hint})" if hint.startswith("did") else "") + "; define it in a cell above")
    try:
        return template.render(namespace).strip()
    except TemplateError as exc:
        raise MagicError(f"the prompt could not be filled in: {exc}") from None


def extract_code(answer: str) -> str:
    """The code of an answer: its fenced blocks joined, or the whole answer when it has none."""
    blocks = _FENCE.findall(answer)
    return "\n\n".join(block.strip("\n") for block in blocks) if blocks else answer.strip()


class StreamingAnswer:
    """One output that shows the answer as it streams, then its final rendering."""

    def __init__(self, role: str, icon: str) -> None:
        self.heading = f"{icon} **{role}**"
        self.text = ""
        self._shown = ""
        self.handle = display(Markdown(f"{self.heading} …"), display_id=True)

    def apply(self, event: Event) -> None:
        if event.kind == "text_delta":
            self.text += event.data["text"]
        elif event.kind == "step_retry":
            self.text = ""  # the failed attempt's words are void

    def flush(self) -> bool:
        if self.text == self._shown:
            return False
        self._shown = self.text
        self.handle.update(Markdown(f"{self.heading}\n\n{self.text} ▍"))
        return True


def ask_agent(runner: Any, args: AgentArgs, cell: str, shell: Any) -> RunResult:
    roles = runner.config.roles
    if args.role not in roles:
        raise MagicError(f"unknown role '{args.role}' ({did_you_mean(args.role, roles)})")
    prompt = render_prompt(cell, shell.user_ns)
    if not prompt:
        raise MagicError("the cell is empty: write the prompt below the %%gorgon agent line")
    step: dict[str, Any] = {"id": args.role, "agent": args.role, "task": "{{ inputs.prompt }}"}
    if args.format == "json":
        step["output"] = "json"
    elif args.format == "code":
        step["system"] = _CODE_INSTRUCTION
    workflow = {"id": f"agent_{args.role}", "name": f"{args.role} agent",
                "inputs": {"prompt": {"type": "string"}}, "steps": [step]}
    stream = StreamingAnswer(args.role, roles[args.role].icon)
    execution = runner.execution(workflow, {"prompt": prompt}, model=args.model)
    run = NotebookRun(execution, stream).start()
    started = time.monotonic()
    result = run.wait()
    if not result.ok:
        stream.handle.update(Markdown(f"{stream.heading}: failed"))
        raise MagicError(f"the {args.role} agent failed: {result.steps[args.role].error or result.error}")
    answer = result.outputs[args.role]
    footer = (f"\n\n<sub>{result.steps[args.role].model} · {result.usage.total_tokens:,} tokens · "
              f"{format_cost(result.usage)} · {time.monotonic() - started:.1f}s · run {result.run_id}</sub>")
    if args.format == "json":
        stream.handle.update(JSON(answer, expanded=True))
    elif args.format == "text":
        stream.handle.update(_PlainText(str(answer)))
    elif args.format == "code":
        code = extract_code(str(answer))
        stream.handle.update(Markdown(f"{stream.heading}\n\n```python\n{code}\n```{footer}"))
        if args.insert:
            shell.set_next_input(code, replace=False)
    else:
        stream.handle.update(Markdown(f"{stream.heading}\n\n{answer}{footer}"))
    return result


class _PlainText:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text
