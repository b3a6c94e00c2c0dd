"""A model and a person for tests of workflows whose agents call tools.

``ScriptedModel`` is a provider (registered as ``offline`` unless named otherwise) that
asks for the tool calls of its script, one turn after another, then answers from what the
tools gave back; it keeps every request, so a test reads what the model was sent.
``Approver`` decides every approval as it is asked, from a store connection of its own,
while a run waits::

    model = ScriptedModel([("files.write_file", {"path": "a.txt", "content": "hi"})])
    runner.runtime.providers.register(model)
    with Approver(runner.store.path) as person:
        result = runner.run(workflow)
    assert [a.step_key for a in person.seen] == ["write/tool-1"]
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.model.tools import wire_name
from gorgon_nb.model.usage import Usage
from gorgon_nb.providers.base import Completion, LLMRequest, Message, TextCallback, ToolCall

if TYPE_CHECKING:
    from gorgon_nb.model.approval import ApprovalRequest

__all__ = ["Approver", "ScriptedModel", "Turn"]

Turn = Sequence[tuple[str, dict[str, Any]]]  # the calls of one turn: (tool reference, arguments)


def _answer(results: list[Message]) -> str:
    return "answer: " + " | ".join(m.content for m in results)


class ScriptedModel:
    """Asks for the calls of each turn in order (tools named by reference: ``files.read_file``),
    then answers with ``answer(tool results)``: by default "answer: " and the results joined
    with " | ". A request that may not call tools (none offered, or ``tool_choice`` none) is
    answered at once."""

    def __init__(self, *turns: Turn, name: str = "offline",
                 answer: Callable[[list[Message]], str] = _answer) -> None:
        self.name = name
        self.turns = list(turns)
        self.answer = answer
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest, *, on_delta: TextCallback | None = None) -> Completion:
        self.requests.append(request)
        asked = sum(1 for m in request.messages if m.role == "assistant" and m.tool_calls)
        if request.tools and request.tool_choice != "none" and asked < len(self.turns):
            calls = tuple(ToolCall(f"call-{asked}-{i}", wire_name(ref), dict(arguments))
                          for i, (ref, arguments) in enumerate(self.turns[asked]))
            return Completion("", Usage(calls=1), tool_calls=calls)
        text = self.answer(self.tool_results(request))
        if on_delta is not None:
            on_delta(text)
        return Completion(text, Usage(calls=1))

    @staticmethod
    def tool_results(request: LLMRequest) -> list[Message]:
        return [m for m in request.messages if m.role == "tool"]

    def results(self) -> list[Message]:
        """The tool results of the last request: what the model read."""
        return self.tool_results(self.requests[-1])


class Approver:
    """Decides every pending approval of the store at ``db`` as it is asked (``approve``,
    with ``comment``, by ``by``), from a thread and a connection of its own, while the
    ``with`` block runs. ``seen``: the requests it decided; ``meanwhile`` is called after
    one is seen and before it is decided."""

    def __init__(self, db: str | Path, approve: bool = True, comment: str = "", *, by: str = "alice",
                 meanwhile: Callable[[], None] | None = None) -> None:
        self.db, self.approve, self.comment, self.by, self.meanwhile = Path(db), approve, comment, by, meanwhile
        self.seen: list[ApprovalRequest] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Approver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        from gorgon_nb.store import Store

        with Store(self.db) as store:
            while not self._stop.wait(0.05):
                for request in store.approvals.recent(status="pending"):
                    self.seen.append(request)
                    if self.meanwhile is not None:
                        self.meanwhile()
                    store.approvals.decide(request.id, approve=self.approve, by=self.by, comment=self.comment)
