"""Running tools through the real engine: a model that asks for scripted tool calls, a
workflow file in a folder of its own, and a person who decides the approvals."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gorgon_nb.model.approval import ApprovalRequest
from gorgon_nb.model.run import RunResult
from gorgon_nb.model.tools import wire_name
from gorgon_nb.providers.base import Completion, LLMRequest, Message, TextCallback, ToolCall
from gorgon_nb.runner import Runner
from gorgon_nb.store import Store
from gorgon_nb.workflow import Workflow

Turn = Sequence[tuple[str, dict[str, Any]]]


class ScriptedModel:
    """Stands in for the offline model: asks for the calls of each turn of its script in
    order, then answers with the results it was given (as JSON)."""

    name = "offline"

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.turns = list(turns)
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest, *, on_delta: TextCallback | None = None) -> Completion:
        self.requests.append(request)
        asked = sum(1 for m in request.messages if m.role == "assistant" and m.tool_calls)
        if request.tools and request.tool_choice != "none" and asked < len(self.turns):
            calls = tuple(ToolCall(f"call-{asked}-{i}", wire_name(ref), dict(arguments))
                          for i, (ref, arguments) in enumerate(self.turns[asked]))
            return Completion("", tool_calls=calls)
        return Completion(json.dumps([m.content for m in self.tool_messages(request)]))

    @staticmethod
    def tool_messages(request: LLMRequest) -> list[Message]:
        return [m for m in request.messages if m.role == "tool"]

    def results(self) -> list[Message]:
        """The tool results of the last request: what the model read."""
        return self.tool_messages(self.requests[-1])


@dataclass
class Person:
    """Decides every approval as it is asked, from a store connection of its own."""

    db: Path
    approve: bool = True
    comment: str = ""
    seen: list[ApprovalRequest] = field(default_factory=list)
    meanwhile: Callable[[], None] | None = None  # done after a request is seen, before it is decided
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Person:
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        with Store(self.db) as store:
            while not self._stop.is_set():
                for request in store.approvals.recent(status="pending"):
                    self.seen.append(request)
                    if self.meanwhile is not None:
                        self.meanwhile()
                    store.approvals.decide(request.id, approve=self.approve, by="alice", comment=self.comment)
                time.sleep(0.05)


@dataclass
class Acted:
    """A run of one step that called tools: the run, what the model read, the approvals asked."""

    result: RunResult
    model: ScriptedModel
    approvals: list[ApprovalRequest]

    @property
    def read(self) -> list[str]:
        return [m.content for m in self.model.results()]

    @property
    def errors(self) -> list[bool]:
        return [m.is_error for m in self.model.results()]


async def act(runner: Runner, folder: Path, tools: Sequence[str], *turns: Turn, approve: bool = True,
              comment: str = "", auto_approve: bool = False, allow_code: bool = False, workspace: str | None = "ws",
              step: str = "", head: str = "", file_allows: bool | None = None, meanwhile: Callable[[], None] | None = None,
              **options: Any) -> Acted:
    """Run a workflow (written to ``folder``) whose one ``llm`` step offers ``tools`` to a
    model that asks for the calls of ``turns``, a person deciding each approval. The tools
    work in ``folder/workspace``. ``allow_code`` is the caller's consent, and the workflow
    file's unless ``file_allows`` says otherwise; ``head`` and ``step`` are more YAML lines
    for the workflow and for its step."""
    model = ScriptedModel(turns)
    runner.runtime.providers.register(model)
    file_allows = allow_code if file_allows is None else file_allows
    text = (f"id: acting\nallow_code: {str(file_allows).lower()}\n{head}steps:\n"
            f"  - id: act\n    llm: Do what you were asked.\n    tools: {json.dumps(list(tools))}\n"
            f"    auto_approve: {str(auto_approve).lower()}\n"
            + (f"    workspace: {workspace}\n" if workspace else "") + step)
    path = folder / "acting.gorgon.yaml"
    path.write_text(text, encoding="utf-8")
    assert runner.store is not None and runner.store.path is not None
    with Person(runner.store.path, approve, comment, meanwhile=meanwhile) as person:
        result = await runner.arun(Workflow.from_file(path), allow_code=allow_code, **options)
    return Acted(result, model, person.seen)
