"""Tool calls in a step: the model asks, the tools answer, the model goes on.

``converse`` is a model call that may use tools: it offers the step's tools, runs the
calls the model asks for (several at once when it asks for several), hands back their
results, and asks again, until the model answers without calling a tool or the step's
``max_tool_calls`` are spent (the model is then asked for its answer, the tools still
declared but ``tool_choice`` "none").

Every call is durable. It is numbered in the order the model asked for it within the step
execution, noted in the store's tool-call journal (``store.tools``) before it runs and
with its result once it ended. Because each model answer is recorded too (with the calls
it asked for), a resumed run asks the same questions, gets the same answers from the
record and finds the calls' results in the journal: no finished call runs twice. A call
cut off while it ran runs again when it only reads (or its tool says repeating is safe);
a write cut off stops the step, as an integration's write does. A replay serves every
result from the replayed run and runs no tool.

A call that writes waits for a person's approval first (kind ``tool``), its exact
arguments (or its tool's ``preview``) shown, unless ``auto_approve`` on the step, its role
or the config says otherwise. A rejection is the call's result: the model reads who said
no and why, and may try otherwise. A tool's error is its result too; only a ``ToolError``
marked ``fatal`` (and the run's own limits) stop the step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from gorgon_nb.engine.approvals import wait_for_approval
from gorgon_nb.errors import (
    BudgetExceededError,
    ExecutionError,
    LimitExceededError,
    StepError,
    StoreError,
    ToolError,
    did_you_mean,
)
from gorgon_nb.model.events import ToolCallFinished, ToolCallStarted
from gorgon_nb.model.tools import Tool, find_toolset, parse_tool_ref, wire_name
from gorgon_nb.model.workflow import ModelOptions
from gorgon_nb.providers.base import Completion, LLMRequest, Message, ToolCall, ToolSpec
from gorgon_nb.secrets import redact
from gorgon_nb.store.tools import ToolCallKey

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.engine.run_state import StepRun
    from gorgon_nb.integrations import Connections

__all__ = ["DEFAULT_TOOL_TIMEOUT", "RESULT_LIMIT", "Conversation", "RunResources", "ToolContext", "converse",
           "new_conversation", "resolve_tools", "step_tool_refs", "tool_approved"]

DEFAULT_TOOL_TIMEOUT = 120.0  # seconds a tool call may take when its tool sets no timeout
RESULT_LIMIT = 50_000  # characters of a result the model reads (the rest is cut, and it is told)
EVENT_PREVIEW = 500  # characters of a result its event carries
logger = logging.getLogger("gorgon_nb")
T = TypeVar("T")
Stop = Callable[[], Awaitable[None]]


class RunResources:
    """What a run starts for its tools (an MCP server, a kernel), started once on first use
    and stopped, last started first, when the run ends.

    ``start`` is awaited once per key and returns the resource and how to stop it. Whatever
    must be entered and left in one task (an MCP client's streams) is best held by a task
    of its own that ``start`` creates and ``stop`` ends.
    """

    def __init__(self) -> None:
        self._held: dict[str, Any] = {}
        self._stops: list[tuple[str, Stop]] = []
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, key: str, start: Callable[[], Awaitable[tuple[T, Stop]]]) -> T:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._held:
                value, stop = await start()
                self._held[key] = value
                self._stops.append((key, stop))
            return self._held[key]

    async def aclose(self) -> None:
        stops, self._stops, self._held = self._stops, [], {}
        for key, stop in reversed(stops):
            try:
                await stop()
            except Exception:  # one resource failing to stop must not keep the others running
                logger.warning("stopping %s failed", key, exc_info=True)


class ToolContext:
    """What a tool sees: the step execution it runs for, its workspace, and the run's resources."""

    def __init__(self, run: StepRun, item: int | None, workspace: Path) -> None:
        self._run = run
        self.item = item
        self.workspace = workspace

    @property
    def run_id(self) -> str:
        return self._run.state.result.run_id

    @property
    def step_key(self) -> str:
        return self._run.result.key

    @property
    def config(self) -> Config:
        return self._run.state.runtime.config

    @property
    def allow_code(self) -> bool:
        """Whether the caller consented to running code (see ``engine.trust``)."""
        return self._run.state.options.allow_code

    @property
    def base_dir(self) -> Path | None:
        return self._run.state.options.base_dir

    @property
    def integrations(self) -> Connections:
        return self._run.state.runtime.integrations

    async def resource(self, key: str, start: Callable[[], Awaitable[tuple[T, Stop]]]) -> T:
        """A resource of the run (an MCP server's session), started on first use (see ``RunResources``)."""
        return await self._run.state.resources.get(key, start)

    def notice(self, message: str, level: str = "info") -> None:
        self._run.state.notice(message, level)


# -- which tools a step has ------------------------------------------------------------------


def step_tool_refs(step: Any, config: Config, role: str | None) -> list[str]:
    """The tools a step lists, else those of the role it asks as (none for a step that calls no model)."""
    if not isinstance(step, ModelOptions):
        return []
    if step.tools is not None:
        return list(step.tools)
    found = config.roles.get(role) if role else None
    return list(found.tools) if found is not None else []


def tool_approved(step: Any, config: Config, tool: Tool, role: str | None) -> bool:
    """Whether a call of ``tool`` needs no approval: the step's, the role's, its MCP server's
    or the config's ``auto_approve``."""
    found = config.roles.get(role) if role else None
    for setting in (getattr(step, "auto_approve", False), found.auto_approve if found else False,
                    config.tools_auto_approve):
        if setting is True:
            return True
        if isinstance(setting, list | tuple) and any(_names_tool(ref, tool) for ref in setting):
            return True
    ref = parse_tool_ref(tool.name)
    server, _, own = (ref.selector or "").partition("/")
    settings = config.mcp_servers.get(server) if ref.toolset == "mcp" else None
    return settings is not None and settings.auto_approves(own)


def _names_tool(ref: str, tool: Tool) -> bool:
    """Whether a reference (``files``, ``files.write_file``, ``mcp:fs``) covers ``tool``."""
    if ref == tool.name:
        return True
    parsed, own = parse_tool_ref(ref), parse_tool_ref(tool.name)
    if parsed.toolset != own.toolset:
        return False
    return parsed.selector is None or (own.selector or "").startswith(parsed.selector + "/")


def workspace_of(run: StepRun) -> Path:
    """The folder the step's file and shell tools work in: its ``workspace`` (relative to the
    workflow's folder), else the workflow's folder, else the current one. A bundled
    workflow's folder is inside the installed package, so its workspace is the current one's."""
    step = run.node.step
    bundled = run.state.compiled.bundled
    base = run.state.options.base_dir if run.state.options.base_dir and not bundled else Path.cwd()
    chosen = getattr(step, "workspace", None)
    return (base / chosen).resolve() if chosen else base.resolve()


async def resolve_tools(refs: Sequence[str], ctx: Any, *, consented: bool = True) -> list[Tool]:
    """The tools the references name, each once, in the order named. ``consented``: whether
    tools that run code were consented to (a step's own list is checked before the run; a
    role's tools come from the config, and need the caller's consent when they run code)."""
    found: dict[str, Tool] = {}
    for ref in refs:
        parsed = parse_tool_ref(ref)
        toolset = find_toolset(parsed.toolset)
        if toolset is None:  # compile_workflow checks this; a step built by hand may not have been
            raise ToolError(f"no tool set '{parsed.toolset}' (in '{ref}')", fatal=True)
        if not consented and toolset.runs_code(parsed.selector):
            raise ToolError(f"the tool '{ref}' runs code on this machine, so it needs your consent: run with "
                            "--allow-code (allow_code=True in Python), if you trust the workflow", fatal=True)
        tools = await toolset.tools(parsed.selector, ctx)
        if not tools:
            raise ToolError(f"'{ref}' names no tool", fatal=True)
        for tool in tools:
            found.setdefault(tool.name, tool)
    return list(found.values())


# -- the conversation ------------------------------------------------------------------------


@dataclass
class Conversation:
    """One exchange with the model inside a step execution, and the tool calls made in it so
    far. ``label`` tells it from the others of the step: "" for the first, ``d2`` for a
    supervisor's third delegate, ``.1`` for a second one (a revision)."""

    label: str
    made: int = 0


def new_conversation(run: StepRun, item: int | None, delegation: int | None) -> Conversation:
    """The next conversation of the step execution; the same labels, in the same order, on a resume."""
    number = run.conversations.get((item, delegation), 0)
    run.conversations[(item, delegation)] = number + 1
    return Conversation(("" if delegation is None else f"d{delegation}") + (f".{number}" if number else ""))


@dataclass
class _Outcome:
    content: str  # what the model reads
    status: str  # ok | error | rejected
    recorded: bool = False


Complete = Callable[[LLMRequest], Awaitable[Completion]]


async def converse(run: StepRun, request: LLMRequest, item: int | None, complete: Complete, *,
                   refs: Sequence[str], conversation: Conversation, role: str | None = None,
                   delegation: int | None = None) -> tuple[Completion, list[Message]]:
    """Ask, running the tool calls the model asks for, until it answers. The answer, and
    the conversation that led to it (for a re-ask)."""
    step = run.node.step
    limit = step.max_tool_calls if isinstance(step, ModelOptions) else 0
    ctx = ToolContext(run, item, workspace_of(run))
    listed = isinstance(step, ModelOptions) and step.tools is not None  # else the role's, from the config
    tools = await resolve_tools(refs, ctx, consented=listed or ctx.allow_code)
    taken: set[str] = set()
    by_wire: dict[str, Tool] = {}
    specs: list[ToolSpec] = []
    for tool in tools:
        name = wire_name(tool.name, taken)
        taken.add(name)
        by_wire[name] = tool
        specs.append(ToolSpec(name, tool.description[:1024], dict(tool.schema)))
    messages = list(request.messages)
    while True:
        made = conversation.made
        spent = made >= limit  # the tools stay declared; the model must answer without them
        completion = await complete(_with(request, messages, tuple(specs), "none" if spent else "auto"))
        if not completion.tool_calls or spent:
            return completion, messages
        calls = completion.tool_calls
        messages.append(Message("assistant", completion.text, tool_calls=calls))
        room = limit - made
        outcomes = await _together([
            _call(run, ctx, by_wire, call, ToolCallKey(run.state.result.run_id, run.result.key, item,
                                                       conversation.label, made + i), role, delegation)
            for i, call in enumerate(calls[:room])])
        outcomes += [_Outcome(f"not run: this step may make at most {limit} tool calls (max_tool_calls); "
                              "answer with what you have", "error") for _ in calls[room:]]
        conversation.made += min(len(calls), room)
        messages += [Message("tool", outcome.content, tool_call_id=call.id, is_error=outcome.status != "ok")
                     for call, outcome in zip(calls, outcomes, strict=True)]


async def _together(calls: list[Awaitable[_Outcome]]) -> list[_Outcome]:
    """The calls of one turn at once; when one stops the step, the others are cancelled
    (their journal says they were cut off) rather than left running."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _with(request: LLMRequest, messages: list[Message], tools: tuple[ToolSpec, ...],
          choice: Literal["auto", "none"]) -> LLMRequest:
    return dataclasses.replace(request, messages=list(messages), tools=tools, tool_choice=choice)


async def _call(run: StepRun, ctx: ToolContext, by_wire: dict[str, Tool], call: ToolCall, at: ToolCallKey,
                role: str | None, delegation: int | None) -> _Outcome:
    """One tool call: from the record, or approved (when it writes) and run, and noted."""
    state, key, item, index = run.state, run.result.key, ctx.item, at.index
    tool = by_wire.get(call.name)
    name = tool.name if tool else call.name
    arguments = call.arguments
    state.emit(ToolCallStarted(index=index, tool=name, arguments=_shown(arguments), writes=bool(tool and tool.writes),
                               item=item, delegation=delegation), key)
    outcome = await _outcome(run, ctx, tool, call, at, by_wire, role)
    state.emit(ToolCallFinished(index=index, tool=name, status=outcome.status,
                                result=redact(outcome.content[:EVENT_PREVIEW]), item=item, delegation=delegation,
                                recorded=outcome.recorded), key)
    return outcome


async def _outcome(run: StepRun, ctx: ToolContext, tool: Tool | None, call: ToolCall, at: ToolCallKey,
                   by_wire: dict[str, Tool], role: str | None) -> _Outcome:
    state, key = run.state, run.result.key
    store = state.runtime.store
    if tool is None:
        return _Outcome(f"there is no tool '{call.name}'; {did_you_mean(call.name, by_wire)}", "error")
    if "__invalid__" in call.arguments:
        return _Outcome(f"the arguments of {call.name} were not a JSON object: {call.arguments['__invalid__']!r}; "
                        "call it again with a JSON object", "error")
    if state.replaying:
        source = state.continuation.source if state.continuation else None
        record = store.tools.get(at.of_run(source.run_id)) if store and source else None
        if record is None or record.state != "done" or record.tool != tool.name:
            raise StepError(f"cannot replay step '{key}': the replayed run never finished its tool call "
                            f"#{at.index + 1} ({tool.name})")
        return _Outcome(_content(record.result), "error" if record.is_error else "ok", recorded=True)
    record = store.tools.get(at) if store else None
    if record is not None and record.tool == tool.name and record.arguments == json.loads(
            redact(json.dumps(call.arguments, default=str))):
        if record.state == "done":
            return _Outcome(_content(record.result), "error" if record.is_error else "ok", recorded=True)
        if tool.writes and not tool.idempotent:
            raise ToolError(
                f"the call of {tool.name} by step '{key}' was running when the run stopped, so what it writes may "
                f"or may not have happened. Check it; to run the step again, start a new run from it: "
                f"gorgon fork {state.result.run_id} --from {run.node.step.id}", fatal=True)
    if tool.writes and not tool_approved(run.node.step, state.runtime.config, tool, role):
        decision = await wait_for_approval(
            run, "tool", 1, f"{tool.name} ({key})", await _preview(tool, call.arguments, ctx), approvers=[],
            timeout=None, on_timeout="reject", key=_approval_key(at))
        if not decision.approved:
            who = "the timeout" if decision.timed_out else decision.decided_by or "a reviewer"
            said = f", who said: {decision.comment}" if decision.comment else ""
            outcome = _Outcome(f"this call was rejected by {who}{said}. Do not repeat it as it was.", "rejected")
            if store is not None:
                store.tools.note_running(at, tool.name, call.arguments, True)
                store.tools.note_done(at, outcome.content, True)
            return outcome
    if store is not None:
        store.tools.note_running(at, tool.name, call.arguments, tool.writes)
    try:
        timeout = tool.timeout or DEFAULT_TOOL_TIMEOUT
        try:
            async with asyncio.timeout(timeout):
                result = await tool.run(dict(call.arguments), ctx)
        except TimeoutError:
            raise ToolError(f"{tool.name} did not finish within {timeout:g}s") from None
        outcome = _Outcome(_content(result), "ok")
    except (BudgetExceededError, LimitExceededError, StoreError):
        raise
    except ToolError as exc:
        if exc.fatal:
            raise
        outcome = _Outcome(redact(str(exc)), "error")
    except ExecutionError as exc:
        outcome = _Outcome(redact(str(exc)), "error")
    except Exception as exc:
        outcome = _Outcome(redact(f"{type(exc).__name__}: {exc}"), "error")
    if store is not None:
        store.tools.note_done(at, outcome.content, outcome.status != "ok")
    return outcome


def _approval_key(at: ToolCallKey) -> str:
    """The approval row of a call: its step key, item, conversation and number (``build/tool-3``,
    ``build[2]/tool-1``, ``team/d1/tool-2``)."""
    item = "" if at.item is None else f"[{at.item}]"
    conversation = f"/{at.conversation}" if at.conversation else ""
    return f"{at.step_key}{item}{conversation}/tool-{at.index + 1}"


async def _preview(tool: Tool, arguments: dict[str, Any], ctx: ToolContext) -> str:
    if tool.preview is not None:
        try:
            return await tool.preview(dict(arguments), ctx)
        except Exception as exc:  # a preview that fails still shows the exact arguments
            logger.warning("the preview of %s failed: %s", tool.name, exc)
    shown = json.dumps(arguments, indent=2, default=str, ensure_ascii=False)
    return f"`{tool.name}` will be called with:\n\n```json\n{shown}\n```"


def _content(result: Any) -> str:
    text = result if isinstance(result, str) else json.dumps(result, default=str, ensure_ascii=False)
    if len(text) > RESULT_LIMIT:
        text = text[:RESULT_LIMIT] + f"\n[cut: the result had {len(text)} characters; ask for less of it]"
    return text


def _shown(arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments as an event carries them: secrets scrubbed, long strings cut."""
    data = json.loads(redact(json.dumps(arguments, default=str)))
    return {k: (v[:2000] + "…" if isinstance(v, str) and len(v) > 2000 else v) for k, v in data.items()}
