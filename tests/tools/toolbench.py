"""Running tools through the real engine: a model that asks for scripted tool calls, a
workflow file in a folder of its own, and a person who decides the approvals
(``gorgon_nb.testing``'s ``ScriptedModel`` and ``Approver``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gorgon_nb.model.approval import ApprovalRequest
from gorgon_nb.model.run import RunResult
from gorgon_nb.runner import Runner
from gorgon_nb.testing import Approver, ScriptedModel
from gorgon_nb.workflow import Workflow

Turn = Sequence[tuple[str, dict[str, Any]]]


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
    model = ScriptedModel(*turns, answer=lambda results: json.dumps([m.content for m in results]))
    runner.runtime.providers.register(model)
    file_allows = allow_code if file_allows is None else file_allows
    text = (f"id: acting\nallow_code: {str(file_allows).lower()}\n{head}steps:\n"
            f"  - id: act\n    llm: Do what you were asked.\n    tools: {json.dumps(list(tools))}\n"
            f"    auto_approve: {str(auto_approve).lower()}\n"
            + (f"    workspace: {workspace}\n" if workspace else "") + step)
    path = folder / "acting.gorgon.yaml"
    path.write_text(text, encoding="utf-8")
    assert runner.store is not None and runner.store.path is not None
    with Approver(runner.store.path, approve, comment, meanwhile=meanwhile) as person:
        result = await runner.arun(Workflow.from_file(path), allow_code=allow_code, **options)
    return Acted(result, model, person.seen)
