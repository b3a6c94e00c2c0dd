"""``%%gorgon agent ROLE``: one prompt to one agent, streamed into the cell's output.

The prompt is a template filled from the notebook's variables, in a sandbox that reaches
only the notebook's own values: names that start with ``_`` (``__builtins__`` among
them, which IPython always puts there), the names IPython defines itself
(``get_ipython``, ``exit``, ``In``...), modules, builtins (``eval``, ``open``,
``os.system``) and functions or classes imported from elsewhere are left out, and
cannot be reached through an attribute or an item of a value either. Values' own
methods (``{{ df.describe() }}``) and functions defined in the notebook still work.

What the cell shows of the answer (streamed, final, or a cell inserted with ``--insert``)
passes through ``gorgon_nb.secrets.redact``; the ``RunResult`` keeps the answer as it came.
"""

from __future__ import annotations

import builtins
import json
import re
import time
from collections.abc import Mapping
from functools import lru_cache
from types import BuiltinFunctionType, FunctionType, ModuleType
from typing import Any

from IPython.display import Markdown, display
from jinja2.sandbox import SandboxedEnvironment

from gorgon_nb.engine.templating import (
    JINJA_GLOBALS,
    Template,
    TemplateError,
    compile_template,
    environment,
)
from gorgon_nb.errors import did_you_mean
from gorgon_nb.magics.errors import MagicError
from gorgon_nb.magics.parsing import AgentArgs
from gorgon_nb.magics.session import NotebookRun
from gorgon_nb.model.events import Event, StepRetry, TextDelta, ToolCallFinished, ToolCallStarted
from gorgon_nb.model.run import RunResult
from gorgon_nb.model.usage import format_cost
from gorgon_nb.secrets import redact

__all__ = ["Answer", "ask_agent", "extract_code", "prompt_variables", "render_prompt"]

_FENCE = re.compile(r"```[\w+-]*\n(.*?)```", re.DOTALL)
_CODE_INSTRUCTION = "Answer with the code in one fenced code block, with brief notes after it."


def render_prompt(cell: str, namespace: Mapping[str, Any], hidden: Mapping[str, Any] | None = None) -> str:
    """The prompt with ``{{ name }}`` filled from notebook variables; other braces stay as they are.

    ``hidden``: the names the shell defined itself (IPython's ``user_ns_hidden``), left out
    unless the notebook has given them values of its own."""
    try:
        template = compile_template(cell)
    except TemplateError as exc:
        raise MagicError(f"the prompt is not a valid template: {exc}") from None
    if template.compiled is None:
        return cell.strip()
    variables = prompt_variables(namespace, hidden)
    missing = sorted(template.refs.names - set(variables) - JINJA_GLOBALS)
    if missing:
        name = missing[0]
        if name in namespace:
            raise MagicError(f"the prompt uses {{{{ {name} }}}}, but {_why_hidden(name, namespace[name])}; "
                             "a prompt can use notebook variables that hold values, and functions defined "
                             "in the notebook: put what it needs in such a variable")
        hint = did_you_mean(name, list(variables))
        raise MagicError(f"the prompt uses {{{{ {name} }}}}, but there is no notebook variable '{name}'"
                         + (f" ({hint})" if hint.startswith("did") else "") + "; define it in a cell above")
    try:
        closed = Template(cell, template.refs, _sandbox().from_string(cell))
        return closed.render(variables).strip()
    except TemplateError as exc:
        raise MagicError(f"the prompt could not be filled in: {exc}") from None


def prompt_variables(namespace: Mapping[str, Any], hidden: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The notebook variables a prompt may use (see the module doc)."""
    hidden = hidden or {}
    return {name: value for name, value in namespace.items()
            if not name.startswith("_") and not (name in hidden and hidden[name] is value)
            and not _unreachable(value)}


def _unreachable(value: Any) -> bool:
    """A module, a builtin, or a function or class the notebook did not define."""
    if isinstance(value, ModuleType):
        return True
    if isinstance(value, BuiltinFunctionType):  # eval, open, os.system; not "text".upper
        return value.__self__ is None or isinstance(value.__self__, ModuleType)
    if isinstance(value, FunctionType | type):
        return getattr(value, "__module__", None) != "__main__"
    return False


def _why_hidden(name: str, value: Any) -> str:
    if name.startswith("_"):
        return f"'{name}' starts with _ and so is private to the notebook"
    if isinstance(value, ModuleType):
        return f"'{name}' is a module"
    if isinstance(value, BuiltinFunctionType) or getattr(builtins, name, None) is value:
        return f"'{name}' is a builtin"
    if isinstance(value, FunctionType | type):
        return f"'{name}' was imported, not defined in the notebook"
    return f"'{name}' is IPython's own, not a notebook variable"


@lru_cache(maxsize=1)
def _sandbox() -> SandboxedEnvironment:
    """The workflow templates' environment (its limits, filters and globals), more closed:
    an overlay whose attribute and item reads, and calls, also refuse what ``_unreachable``
    says, at any depth. Overriding on the overlay, not by subclassing, keeps whatever class
    ``environment()`` is made of."""
    env = environment().overlay()
    read_attribute, read_item, may_call = env.getattr, env.getitem, env.is_safe_callable

    def getattr_checked(obj: Any, attribute: str) -> Any:
        value = read_attribute(obj, attribute)
        return env.unsafe_undefined(obj, attribute) if _unreachable(value) else value

    def getitem_checked(obj: Any, argument: Any) -> Any:
        value = read_item(obj, argument)
        return env.unsafe_undefined(obj, str(argument)) if _unreachable(value) else value

    def callable_checked(obj: Any) -> bool:
        if any(obj is value for value in env.globals.values()):
            return True  # range(), namespace(), today()
        return may_call(obj) and not _unreachable(obj)

    env.getattr = getattr_checked  # type: ignore[method-assign]
    env.getitem = getitem_checked  # type: ignore[method-assign]
    env.is_safe_callable = callable_checked  # type: ignore[method-assign]
    return env


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
        payload = event.payload
        if isinstance(payload, TextDelta):
            self.text += payload.text
        elif isinstance(payload, StepRetry):
            self.text = ""  # the failed attempt's words are void
        elif isinstance(payload, ToolCallStarted):
            wait = " (waits for approval)" if payload.writes else ""
            self.text += f"\n\n🔧 `{payload.tool}`{wait}"
        elif isinstance(payload, ToolCallFinished):
            self.text += f"\n\n🔧 `{payload.tool}`: {payload.status}\n\n"

    def flush(self) -> bool:
        if self.text == self._shown:
            return False
        self._shown = self.text
        self.handle.update(Markdown(f"{self.heading}\n\n{redact(self.text)} ▍"))
        return True


def ask_agent(runner: Any, args: AgentArgs, cell: str, shell: Any) -> RunResult:
    roles = runner.config.roles
    if args.role not in roles:
        raise MagicError(f"unknown role '{args.role}' ({did_you_mean(args.role, roles)})")
    prompt = render_prompt(cell, shell.user_ns, getattr(shell, "user_ns_hidden", None))
    if not prompt:
        raise MagicError("the cell is empty: write the prompt below the %%gorgon agent line")
    step: dict[str, Any] = {"id": args.role, "agent": args.role, "task": "{{ inputs.prompt }}"}
    if args.tools:
        step["tools"] = args.tools
    if args.format == "json":
        step["output"] = "json"
    elif args.format == "code":
        step["system"] = _CODE_INSTRUCTION
    workflow = {"id": f"agent_{args.role}", "name": f"{args.role} agent", "allow_code": args.allow_code,
                "inputs": {"prompt": {"type": "string"}}, "steps": [step]}
    stream = StreamingAnswer(args.role, roles[args.role].icon)
    # the cell is its writer's: --allow-code is both the file's consent and the caller's
    execution = runner.execution(workflow, {"prompt": prompt}, model=args.model, allow_code=args.allow_code)
    run = NotebookRun(execution, stream).start()
    started = time.monotonic()
    result = run.wait()
    if not result.ok:
        stream.handle.update(Markdown(f"{stream.heading}: failed"))
        raise MagicError(f"the {args.role} agent failed: {result.steps[args.role].error or result.error}")
    answer = result.outputs[args.role]  # the result keeps it as it came; what is shown is scrubbed
    footer = (f"{result.steps[args.role].model} · {result.usage.total_tokens:,} tokens · "
              f"{format_cost(result.usage)} · {time.monotonic() - started:.1f}s · run {result.run_id}")
    if args.format == "code":
        code = redact(extract_code(str(answer)))
        stream.handle.update(Answer(stream.heading, f"```python\n{code}\n```", footer, plain=code))
        if args.insert:
            shell.set_next_input(code, replace=False)
    elif args.format == "json":
        data = _redacted(answer)
        text = json.dumps(data, indent=2, ensure_ascii=False)
        stream.handle.update(Answer(stream.heading, f"```json\n{text}\n```", footer, plain=text, data=data))
    elif args.format == "text":
        stream.handle.update(Answer(stream.heading, None, footer, plain=redact(str(answer))))
    else:
        shown = redact(str(answer))
        stream.handle.update(Answer(stream.heading, shown, footer, plain=shown))
    return result


def _redacted(value: Any) -> Any:
    """A JSON value with its strings (keys too) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {redact(str(key)): _redacted(item) for key, item in value.items()}
    return value


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
