"""What the kinds that ask a model share: a reviewer's feedback woven into the prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gorgon_nb.engine.context import StepContext

__all__ = ["with_feedback"]


def with_feedback(prompt: str, ctx: StepContext) -> str:
    """A step sent back by its reviewer gets the comment and its previous answer."""
    feedback = ctx.feedback
    if not feedback:
        return prompt
    previous = feedback["previous"] if isinstance(feedback["previous"], str) else str(feedback["previous"])
    return (f"{prompt}\n\nYour previous answer was rejected by {feedback['by']}, who said:\n{feedback['comment']}"
            f"\n\nYour previous answer:\n{previous}\n\nAnswer again, addressing that feedback.")


def json_schema_of(step: object) -> dict[str, object] | None:
    """The schema a step's answer must match: ``{}`` for any JSON, None for text."""
    if getattr(step, "output", "text") != "json":
        return None
    return getattr(step, "schema_", None) or {}
