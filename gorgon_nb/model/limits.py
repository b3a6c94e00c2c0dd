"""Limits that end a hostile or mistaken workflow fast, with a message, rather than hang or eat memory.

Every limit can be raised by an environment variable (read each time the limit is checked,
so a notebook can set ``os.environ`` and go on); the message of a workflow that passes one
names the limit and its variable.

=====================================  ==========  ============================  ==============================
limit                                  default     raise it with                 checked
=====================================  ==========  ============================  ==============================
workflow file size                     1 MiB       GORGON_MAX_FILE_BYTES         loading a file or text
values once YAML aliases are expanded  100,000     GORGON_MAX_YAML_VALUES        loading YAML (before building it)
nesting depth of YAML or JSON          100         GORGON_MAX_NESTING            loading (before building it)
template operations per render         1,000,000   GORGON_MAX_TEMPLATE_OPS       rendering: loop rounds, calls,
                                                                                 attribute reads, operators, filters
characters (or items) a template       4,000,000   GORGON_MAX_RENDERED_CHARS     rendering: its output and every
makes                                                                            string or list it builds
items of a template's ``range()``      100,000     GORGON_MAX_TEMPLATE_RANGE     rendering
digits of a number a template makes    10,000      GORGON_MAX_TEMPLATE_DIGITS    rendering (``**`` and ``*``)
items of one ``for_each``              1,000       GORGON_MAX_FOR_EACH_ITEMS     validation (a literal list) and
                                                                                 when the step starts
steps per run                          5,000       GORGON_MAX_RUN_STEPS          validation (loops' ``max_rounds``
                                                                                 multiplied out) and while running:
                                                                                 each step, loop round, ``for_each``
                                                                                 item and sub-workflow step counts
sub-workflow depth                     8           GORGON_MAX_WORKFLOW_DEPTH     when a ``workflow:`` step starts
retry backoff                          600 s       GORGON_MAX_RETRY_BACKOFF      validation of ``retry``
=====================================  ==========  ============================  ==============================

A step's ``timeout`` and the run's ``timeout`` also hold while a template renders: a
render that reaches either stops there with a message, so a template can never hold up
the event loop (and every other step) past them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gorgon_nb.errors import ConfigError, LimitExceededError

__all__ = [
    "FILE_BYTES",
    "FOR_EACH_ITEMS",
    "LIMITS",
    "NESTING",
    "RENDERED_CHARS",
    "RETRY_BACKOFF",
    "RUN_STEPS",
    "TEMPLATE_DIGITS",
    "TEMPLATE_OPS",
    "TEMPLATE_RANGE",
    "WORKFLOW_DEPTH",
    "YAML_VALUES",
    "Limit",
    "LimitExceededError",
]


@dataclass(frozen=True)
class Limit:
    """One limit: its default, the environment variable that changes it, and what it counts."""

    env: str
    default: int
    counts: str  # "steps per run": what the number is a limit of

    def get(self) -> int:
        raw = os.environ.get(self.env)
        if raw is None or not raw.strip():
            return self.default
        try:
            value = int(raw.strip().replace("_", ""))
        except ValueError:
            value = 0
        if value <= 0:
            raise ConfigError(f"{self.env}={raw!r} is not a limit: give a whole number above 0 "
                              f"(the default is {self.default:,})")
        return value

    @property
    def how_to_raise(self) -> str:
        return f"set {self.env} to raise the limit"

    def exceeded(self, found: str) -> str:
        """``found`` (what was seen), then the limit it passes: ``"... , more than the limit of 8 ..."``."""
        return f"{found}, more than the limit of {self.get():,} {self.counts}"

    def message(self, found: str) -> str:
        """The whole message for an error: what passed which limit, and how to raise it."""
        return f"{self.exceeded(found)}; {self.how_to_raise}"


FILE_BYTES = Limit("GORGON_MAX_FILE_BYTES", 1024 * 1024, "bytes for a workflow file")
YAML_VALUES = Limit("GORGON_MAX_YAML_VALUES", 100_000, "values in a workflow once YAML aliases are expanded")
NESTING = Limit("GORGON_MAX_NESTING", 100, "levels of nesting in a workflow file")
TEMPLATE_OPS = Limit("GORGON_MAX_TEMPLATE_OPS", 1_000_000, "operations per template render")
RENDERED_CHARS = Limit("GORGON_MAX_RENDERED_CHARS", 4_000_000, "characters (or items) a template may make")
TEMPLATE_RANGE = Limit("GORGON_MAX_TEMPLATE_RANGE", 100_000, "items in a template's range()")
# Python will not even write an int of more than 4300 digits; bigger ones only cost time.
TEMPLATE_DIGITS = Limit("GORGON_MAX_TEMPLATE_DIGITS", 10_000, "digits in a number a template makes")
FOR_EACH_ITEMS = Limit("GORGON_MAX_FOR_EACH_ITEMS", 1_000, "items for one for_each")
RUN_STEPS = Limit("GORGON_MAX_RUN_STEPS", 5_000, "steps per run (loop rounds, for_each items and "
                  "sub-workflows' steps count)")
WORKFLOW_DEPTH = Limit("GORGON_MAX_WORKFLOW_DEPTH", 8, "levels of sub-workflows")
RETRY_BACKOFF = Limit("GORGON_MAX_RETRY_BACKOFF", 600, "seconds of retry backoff")

LIMITS: tuple[Limit, ...] = (FILE_BYTES, YAML_VALUES, NESTING, TEMPLATE_OPS, RENDERED_CHARS, TEMPLATE_RANGE,
                             TEMPLATE_DIGITS, FOR_EACH_ITEMS, RUN_STEPS, WORKFLOW_DEPTH, RETRY_BACKOFF)
