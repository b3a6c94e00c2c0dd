"""A small gorgon-nb plugin, as a package of someone else's would be: a step kind and a provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from gorgon_nb.config import Config, ProviderSettings
from gorgon_nb.engine.context import StepContext
from gorgon_nb.model.kinds import StepKind
from gorgon_nb.model.usage import Usage
from gorgon_nb.model.workflow import StepBase
from gorgon_nb.providers.base import Completion, LLMRequest
from gorgon_nb.providers.plugins import ProviderPlugin


class ShoutStep(StepBase):
    """``shout: TEXT``: the text, in capitals."""

    shout: str
    kind: Literal["shout"] = "shout"


async def shout(step: ShoutStep, ctx: StepContext) -> Any:
    return ctx.text("shout").upper() + "!"


KIND = StepKind(key="shout", model=ShoutStep, run=shout, templates=lambda step: {"shout": step.shout},
                replay="rerun")


class ReverseProvider:
    """Answers with the prompt, backwards."""

    name = "reverse"

    async def complete(self, request: LLMRequest, *, on_delta: Callable[[str], None] | None = None) -> Completion:
        text = request.messages[-1].content[::-1]
        if on_delta is not None:
            on_delta(text)
        return Completion(text, Usage(input_tokens=len(request.messages[-1].content), output_tokens=len(text)),
                          request.model)


def create(settings: ProviderSettings, config: Config) -> ReverseProvider:
    return ReverseProvider()


PROVIDER = ProviderPlugin(name="reverse", create=create, model="backwards", free=True,
                          description="the prompt, backwards")
