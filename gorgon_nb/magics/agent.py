"""``%%gorgon agent ROLE``: one prompt to one agent, streamed into the cell's output."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from IPython.display import Markdown, display

from gorgon_nb.engine.templating import JINJA_GLOBALS, TemplateError, compile_template
from gorgon_nb.errors import did_you_mean
from gorgon_nb.magics.errors import MagicError
from gorgon_nb.magics.parsing import AgentArgs
from gorgon_nb.magics.session import NotebookRun
from gorgon_nb.model.events import Event
from gorgon_nb.model.run import RunResult
from gorgon_nb.model.usage import format_cost

__all__ = ["Answer", "ask_agent", "extract_code", "render_prompt"]

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
    footer = (f"{result.steps[args.role].model} · {result.usage.total_tokens:,} tokens · "
              f"{format_cost(result.usage)} · {time.monotonic() - started:.1f}s · run {result.run_id}")
    if args.format == "code":
        code = extract_code(str(answer))
        stream.handle.update(Answer(stream.heading, f"```python\n{code}\n```", footer, plain=code))
        if args.insert:
            shell.set_next_input(code, replace=False)
    elif args.format == "json":
        text = json.dumps(answer, indent=2, ensure_ascii=False)
        stream.handle.update(Answer(stream.heading, f"```json\n{text}\n```", footer, plain=text, data=answer))
    elif args.format == "text":
        stream.handle.update(Answer(stream.heading, None, footer, plain=str(answer)))
    else:
        stream.handle.update(Answer(stream.heading, str(answer), footer, plain=str(answer)))
    return result


class Answer:
    """An agent's answer in its format, with a footer naming the model, tokens, cost and run.

    ``markdown=None`` means the answer is shown as plain text only (``--format text``);
    ``data`` is shown as a JSON tree where the frontend has one.
    """

    def __init__(self, heading: str, markdown: str | None, footer: str, *, plain: str, data: Any = None) -> None:
        self.heading, self.markdown, self.footer, self.plain, self.data = heading, markdown, footer, plain, data

    def _repr_mimebundle_(self, **_: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        bundle: dict[str, Any] = {"text/plain": f"{self.plain}\n\n[{self.footer}]"}
        metadata: dict[str, Any] = {}
        if self.markdown is not None:
            bundle["text/markdown"] = f"{self.heading}\n\n{self.markdown}\n\n<sub>{self.footer}</sub>"
        if self.data is not None:
            bundle["application/json"] = self.data
            metadata["application/json"] = {"expanded": True}
        return bundle, metadata
