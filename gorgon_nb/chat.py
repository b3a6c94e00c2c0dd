"""Chat: conversations with the supervisor and the roles, kept in the store.

What a person types is one of three requests:

- ``@planner ...`` asks that role directly;
- ``/run WORKFLOW key=value ...`` starts a workflow (a value runs to the next ``key=``, so
  quotes are needed only around a ``key=`` inside a value); the chat shows its progress
  and it keeps going while the conversation goes on;
- anything else goes to the supervisor, which may delegate parts to other roles (each
  delegate's answer is a message of its own, linked to the supervisor's).

An answer is a one-step run (workflow id ``chat``) given the conversation so far as
context, so it has the budget, retries, usage and records of any run. Its text streams to
whoever listens to the session and is saved as it goes (at most every second), so a stop,
a failure or a server that dies keeps what was said. A session answers one request at a
time; workflows started from it run beside.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shlex
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gorgon_nb.errors import ConfigError, GorgonError, UsageError, did_you_mean
from gorgon_nb.model.events import (
    ApprovalDecided,
    ApprovalRequested,
    DelegationFinished,
    DelegationStarted,
    Notice,
    RunResumed,
    RunStarted,
    StepFailed,
    StepFinished,
    StepRetry,
    StepStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from gorgon_nb.model.run import RunStatus, run_markdown
from gorgon_nb.model.text import STATUS_LABELS, STATUS_SYMBOLS
from gorgon_nb.secrets import redact
from gorgon_nb.store.chat import ChatMessage, ChatSession

if TYPE_CHECKING:
    from gorgon_nb.engine.executor import Execution
    from gorgon_nb.model.events import ApprovalData, Event
    from gorgon_nb.model.run import RunResult
    from gorgon_nb.runner import Runner
    from gorgon_nb.store import Store

__all__ = ["CHAT_WORKFLOW_ID", "ChatError", "ChatRequest", "ChatService", "Listener", "parse_request"]

CHAT_WORKFLOW_ID = "chat"
DEFAULT_TITLE = "New chat"
HISTORY_MESSAGES = 20  # earlier messages given to an answer as context
HISTORY_CHARS = 2000  # of each of them
SAVE_EVERY = 1.0  # seconds between saves of a streaming message
TEXT_LIMIT = 20_000  # characters in one request
TOOL_CALLS_KEPT = 50  # tool calls a message lists (the latest; the earlier ones are counted)
TOOL_TEXT_LIMIT = 300  # characters of a tool call's arguments and of its result a message keeps

Listener = Callable[[dict[str, Any]], None]
log = logging.getLogger(__name__)


class ChatError(UsageError):
    """A request the chat cannot take; nothing was stored."""


@dataclass
class ChatRequest:
    kind: Literal["supervisor", "agent", "workflow"]
    text: str = ""
    role: str = "supervisor"
    workflow: str = ""
    inputs: dict[str, str] = field(default_factory=dict)


def parse_request(text: str, roles: dict[str, Any], workflows: dict[str, Any]) -> ChatRequest:
    """What ``text`` asks for, or a ``ChatError`` saying what is wrong with it."""
    text = text.strip()
    if not text:
        raise ChatError("the message is empty")
    if len(text) > TEXT_LIMIT:
        raise ChatError(f"the message is too long ({len(text):,} characters; at most {TEXT_LIMIT:,})")
    if text.startswith("@"):
        name, _, rest = text[1:].partition(" ")
        if name not in roles:
            raise ChatError(f"unknown role '@{name}' ({did_you_mean(name, roles) or 'no such role'}); "
                            f"the roles are {', '.join('@' + r for r in sorted(roles))}")
        if not rest.strip():
            raise ChatError(f"write what you ask after @{name}")
        return ChatRequest("agent", rest.strip(), role=name)
    if text.startswith("/"):
        command, _, rest = text[1:].partition(" ")
        if command != "run":
            raise ChatError(f"unknown command '/{command}'; start a workflow with /run WORKFLOW key=value ...")
        return _workflow_request(rest, workflows)
    return ChatRequest("supervisor", text)


def _workflow_request(rest: str, workflows: dict[str, Any]) -> ChatRequest:
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise ChatError(f"cannot read the /run line: {exc}") from None
    if not words:
        raise ChatError(f"name the workflow: /run WORKFLOW key=value ...; the workflows are {', '.join(sorted(workflows))}")
    name, *pairs = words
    if name not in workflows:
        raise ChatError(f"no workflow named '{name}' ({did_you_mean(name, workflows)})")
    inputs: dict[str, str] = {}
    key = None
    for word in pairs:
        name_, sep, value = word.partition("=")
        if sep and name_.isidentifier():
            key, inputs[name_] = name_, value
        elif key is None:
            raise ChatError(f"'{word}' is not key=value (for example feature_request=Add a CSV export)")
        else:  # an unquoted value with spaces
            inputs[key] += " " + word
    return ChatRequest("workflow", workflow=name, inputs=inputs)


class ChatService:
    """Chat sessions of one server: requests in, messages out to every listener of a session."""

    def __init__(self, runner: Runner) -> None:
        if runner.store is None:
            raise ChatError("the chat needs a store to keep its conversations")
        self.runner, self.store = runner, runner.store
        self._config_stamp = _stamp(runner.config.file or runner.config.home / "config.toml")
        self._listeners: dict[str, set[Listener]] = defaultdict(set)
        self._answering: dict[str, asyncio.Task[None]] = {}
        self._workflows: dict[str, set[asyncio.Task[None]]] = defaultdict(set)
        self._live: dict[str, dict[str, ChatMessage]] = defaultdict(dict)  # streaming now, by session and id
        self.store.chat.interrupt_streaming()  # left streaming by a server that stopped

    def _current_runner(self) -> Runner:
        """The runner, made afresh when the config file changed (a server runs for days)."""
        from gorgon_nb.config import load_config
        from gorgon_nb.runner import Runner

        path = self.runner.config.file or self.runner.config.home / "config.toml"
        if _stamp(path) != self._config_stamp:
            self.runner = Runner(load_config(), self.store)
            self._config_stamp = _stamp(path)
        return self.runner

    # -- sessions -------------------------------------------------------------------------

    def create_session(self, title: str | None = None) -> ChatSession:
        return self.store.chat.create_session((title or "").strip() or DEFAULT_TITLE)

    async def delete_session(self, session_id: str) -> None:
        self.store.chat.get_session(session_id)
        await self.stop(session_id)
        self.store.chat.delete_session(session_id)

    def message_json(self, message: ChatMessage) -> dict[str, Any]:
        role = self.runner.config.roles.get(message.agent or "")
        return {**message.to_dict(), "icon": role.icon if role else None}

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        """The session's messages, those streaming now with all their text so far."""
        live = self._live.get(session_id, {})
        return [self.message_json(live.get(m.id, m)) for m in self.store.chat.messages(session_id)]

    def streaming(self, session_id: str) -> list[dict[str, Any]]:
        """The messages of the session being written now, with their text so far."""
        return [self.message_json(m) for m in self._live.get(session_id, {}).values()]

    # -- listening ------------------------------------------------------------------------

    def subscribe(self, session_id: str, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every change of the session; returns the unsubscribe."""
        self.store.chat.get_session(session_id)
        self._listeners[session_id].add(listener)
        return lambda: self._listeners[session_id].discard(listener)

    def answering(self, session_id: str) -> bool:
        return session_id in self._answering

    def _broadcast(self, session_id: str, payload: dict[str, Any]) -> None:
        for listener in list(self._listeners.get(session_id, ())):
            try:
                listener(payload)
            except Exception:  # a closed socket: it stops listening
                self._listeners[session_id].discard(listener)

    def _changed(self, message: ChatMessage, *, save: bool = True) -> None:
        if save:
            self.store.chat.update_message(message)
        if message.status != "streaming":
            self._live[message.session_id].pop(message.id, None)
        self._broadcast(message.session_id, {"type": "message", "message": self.message_json(message)})

    def _add(self, message: ChatMessage) -> ChatMessage:
        self.store.chat.add_message(message)
        if message.status == "streaming":
            self._live[message.session_id][message.id] = message
        self._broadcast(message.session_id, {"type": "message", "message": self.message_json(message)})
        return message

    # -- requests -------------------------------------------------------------------------

    async def send(self, session_id: str, text: str) -> ChatMessage:
        """Take a request: the user's message is stored and the answer (or run) starts.

        Raises ``ChatError`` (nothing stored) when the request cannot be taken.
        """
        from gorgon_nb.workflow import list_workflows

        session = self.store.chat.get_session(session_id)
        workflows = list_workflows()
        runner = self._current_runner()
        request = parse_request(text, runner.config.roles, workflows)
        if request.kind != "workflow" and self.answering(session_id):
            raise ChatError("this chat is still answering; stop it or wait for the answer")
        reply = Reply(self, session_id)
        try:
            if request.kind == "workflow":
                execution = runner.execution(workflows[request.workflow], request.inputs,
                                                  on_event=reply.on_workflow_event)
            else:
                history = self._history(session_id)
                execution = runner.execution(turn_workflow(request), {"task": request.text, "context": history},
                                                  on_event=reply.on_event)
        except ConfigError as exc:
            hint = (" The Jupyter server reads the environment when it starts: set the variable where "
                    "JupyterLab is started, and restart it." if "API key" in str(exc) else "")
            raise ChatError(redact(exc.for_surface("sidebar")) + hint) from None
        except GorgonError as exc:
            raise ChatError(redact(exc.for_surface("sidebar"))) from None
        sent = self._add(ChatMessage("", session_id, 0, "user", text.strip()))
        if session.title == DEFAULT_TITLE:
            self.store.chat.rename_session(session_id, " ".join(text.split())[:60])
        if request.kind == "workflow":
            reply.message = self._add(ChatMessage(
                "", session_id, 0, "workflow", "", agent=None, status="streaming", run_id=execution.result.run_id,
                meta={"workflow": request.workflow, "inputs": request.inputs, "steps": {}}))
            task = asyncio.create_task(reply.run_workflow(execution))
            self._workflows[session_id].add(task)
            task.add_done_callback(self._workflows[session_id].discard)
        else:
            reply.message = self._add(ChatMessage("", session_id, 0, "agent", "", agent=request.role,
                                                  status="streaming", run_id=execution.result.run_id))
            self._answering[session_id] = task = asyncio.create_task(reply.answer(execution))
            task.add_done_callback(lambda _: self._answering.pop(session_id, None))
        return sent

    async def stop(self, session_id: str) -> bool:
        """Stop the session's answer and its workflows at once; what was said so far is kept."""
        tasks = [t for t in (self._answering.get(session_id), *self._workflows.get(session_id, ())) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return bool(tasks)

    async def close(self) -> None:
        """Stop everything (the server is shutting down)."""
        for session_id in {*self._answering, *self._workflows}:
            await self.stop(session_id)

    def _history(self, session_id: str) -> str:
        said = [m for m in self.store.chat.messages(session_id)
                if m.parent_id is None and m.role in ("user", "agent") and m.content and m.status != "error"]
        lines = [f"{'user' if m.role == 'user' else m.agent}: {m.content[:HISTORY_CHARS]}"
                 for m in said[-HISTORY_MESSAGES:]]
        return "The conversation so far:\n\n" + "\n\n".join(lines) if lines else ""


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _cut(text: str) -> str:
    text = redact(text)
    return text if len(text) <= TOOL_TEXT_LIMIT else text[:TOOL_TEXT_LIMIT - 1] + "…"


def note_tool_call(meta: dict[str, Any], event: ToolCallStarted | ToolCallFinished) -> None:
    """Keep a tool call in a message's ``meta["tool_calls"]``: ``{index, tool, arguments,
    status, result, recorded}`` (status running, waiting, ok, error or rejected), the latest
    ``TOOL_CALLS_KEPT`` of them, the earlier ones counted in ``tool_calls_dropped``."""
    calls: list[dict[str, Any]] = meta.setdefault("tool_calls", [])
    if isinstance(event, ToolCallStarted):
        arguments = json.dumps(event.arguments, ensure_ascii=False, default=str, separators=(", ", ": "))
        calls.append({"index": event.index, "tool": event.tool, "arguments": _cut(arguments),
                      "status": "running", "result": "", "recorded": False})
        if len(calls) > TOOL_CALLS_KEPT:
            del calls[0]
            meta["tool_calls_dropped"] = meta.get("tool_calls_dropped", 0) + 1
        return
    call = next((c for c in reversed(calls) if c["index"] == event.index and c["status"] in ("running", "waiting")),
                None)
    if call is None:
        call = {"index": event.index, "tool": event.tool, "arguments": ""}
        calls.append(call)
    call.update(status=event.status, result=_cut(event.result), recorded=event.recorded)


def note_tool_approval(meta: dict[str, Any], approval: ApprovalData) -> bool:
    """Mark the call an approval of kind ``tool`` is about as waiting (or running again once
    decided); whether a call was found. The approval's key ends with ``/tool-N``: call N-1."""
    number = str(approval.get("step_key") or "").rpartition("/tool-")[2]
    title = approval.get("title") or ""
    for call in reversed(meta.get("tool_calls", [])):
        if call["status"] not in ("running", "waiting"):
            continue
        if (str(call["index"] + 1) == number) if number.isdigit() else title.startswith(f"{call['tool']} ("):
            pending = approval["status"] == "pending"
            call["status"] = "waiting" if pending else "running"
            call["approval"] = approval["id"]
            return True
    return False


def turn_workflow(request: ChatRequest) -> dict[str, Any]:
    """The one-step run behind an answer."""
    if request.kind == "supervisor":
        step = {"id": "answer", "supervisor": "{{ inputs.task }}", "context": "{{ inputs.context }}"}
    else:
        step = {"id": "answer", "agent": request.role, "task": "{{ inputs.task }}", "context": "{{ inputs.context }}"}
    return {"id": CHAT_WORKFLOW_ID, "name": f"chat with the {request.role}",
            "inputs": {"task": {"type": "string"}, "context": {"type": "string", "default": ""}}, "steps": [step]}


class Reply:
    """The messages of one answer or one workflow, kept in step with the run's events."""

    def __init__(self, service: ChatService, session_id: str) -> None:
        self.service, self.session_id = service, session_id
        self.message: ChatMessage  # set once the request is taken
        self.delegates: dict[int, ChatMessage] = {}
        self._saved: dict[str, float] = {}

    @property
    def store(self) -> Store:
        return self.service.store

    def _target(self, delegation: int | None) -> ChatMessage | None:
        return self.message if delegation is None else self.delegates.get(delegation)

    def on_event(self, event: Event) -> None:
        match event.payload:
            case TextDelta() as delta:
                message = self._target(delta.delegation)
                if message is None:
                    return
                message.content += delta.text
                self.service._broadcast(self.session_id, {"type": "delta", "message_id": message.id,
                                                          "text": delta.text})
                if time.monotonic() - self._saved.get(message.id, 0.0) > SAVE_EVERY:
                    self._saved[message.id] = time.monotonic()
                    self.store.chat.update_message(message)
            case StepRetry() as retry:  # the failed attempt's words are void
                message = self._target(retry.delegation)
                if message is not None and message.content:
                    message.content = ""
                    self.service._changed(message)
            case DelegationStarted() as started:
                self.delegates[started.index] = self.service._add(ChatMessage(
                    "", self.session_id, 0, "agent", "", agent=started.role, status="streaming",
                    parent_id=self.message.id, run_id=self.message.run_id,
                    meta={"delegation": {"index": started.index, "role": started.role, "task": started.task}}))
            case DelegationFinished() as finished:
                message = self.delegates[finished.index]
                if finished.error is not None:
                    message.status, message.meta["error"] = "error", finished.error
                else:
                    message.status, message.content = "done", str(finished.output)
                self.service._changed(message)
            case ToolCallStarted() | ToolCallFinished() as call:
                message = self._target(call.delegation)
                if message is not None:
                    note_tool_call(message.meta, call)
                    self.service._changed(message)
            case ApprovalRequested() | ApprovalDecided() as asked if asked.approval["kind"] == "tool":
                delegate = re.search(r"/d(\d+)[^/]*/tool-\d+$", asked.approval.get("step_key") or "")
                message = self._target(int(delegate[1]) if delegate else None)
                if message is not None and note_tool_approval(message.meta, asked.approval):
                    self.service._changed(message)
            case Notice() as notice:
                self.message.meta.setdefault("notices", []).append(notice.message)

    async def answer(self, execution: Execution) -> None:
        message = self.message
        try:
            result = await execution.execute()
        except asyncio.CancelledError:
            self._end("stopped")
            return
        except Exception as exc:  # a bug: the chat says so, keeps what it has, and logs it
            log.exception("the chat's answer failed")
            message.meta["error"] = redact(f"internal error: {type(exc).__name__}: {exc}")
            self._end("error")
            return
        step = result.steps.get("answer")
        if step is not None:
            message.meta["usage"] = {"model": step.model, "tokens": step.usage.total_tokens,
                                     "cost_usd": step.usage.cost_usd if not step.usage.unpriced_calls else None}
        if result.ok:
            message.content = str(result.outputs["answer"])
            self._end("done")
        elif result.status == RunStatus.CANCELLED:
            self._end("stopped")
        else:
            message.meta["error"] = (step.error if step is not None and step.error else None) or result.error
            self._end("error")

    def _end(self, status: str) -> None:
        """The answer and its delegates still streaming end with ``status``."""
        for message in (*self.delegates.values(), self.message):
            if message.status == "streaming":
                message.status = status
                self.service._changed(message)

    # -- workflows ------------------------------------------------------------------------

    def on_workflow_event(self, event: Event) -> None:
        meta = self.message.meta
        payload = event.payload
        if isinstance(payload, RunStarted | RunResumed):
            meta["steps"] = {node["key"]: "pending" for node in payload.graph}
        elif isinstance(payload, StepStarted | StepFinished | StepFailed) and event.step in meta["steps"]:
            meta["steps"][event.step] = (payload.status if isinstance(payload, StepFinished)
                                         else "failed" if isinstance(payload, StepFailed) else "running")
        elif isinstance(payload, ApprovalRequested | ApprovalDecided):
            approval = payload.approval
            if approval["status"] == "pending":
                meta["waiting"] = approval["title"]
            else:
                meta.pop("waiting", None)
        else:
            return
        self.message.content = self._progress()
        self.service._changed(self.message, save=not isinstance(payload, StepStarted))

    def _progress(self) -> str:
        meta = self.message.meta
        lines = [f"**{meta['workflow']}** · run `{self.message.run_id}`", ""]
        lines += [f"- {STATUS_SYMBOLS.get(status, '·')} `{key}` {STATUS_LABELS.get(status, status)}"
                  for key, status in meta["steps"].items()]
        if meta.get("waiting"):
            lines += ["", f"Waiting for approval: **{meta['waiting']}** (see the Approvals tab)"]
        return "\n".join(lines)

    async def run_workflow(self, execution: Execution) -> None:
        message = self.message
        result: RunResult | None = None
        with contextlib.suppress(asyncio.CancelledError):
            result = await execution.execute()
        if result is None:
            result = execution.result
        message.meta.pop("waiting", None)
        message.content = run_markdown(result)
        if result.ok:
            message.status = "done"
        elif result.status == RunStatus.CANCELLED:
            message.status = "stopped"
        else:
            message.status, message.meta["error"] = "error", result.error
        self.service._changed(message)
