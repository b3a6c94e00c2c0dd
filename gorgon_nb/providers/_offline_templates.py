"""Role-shaped answer templates for the offline provider.

Each template turns a ``Context`` into an answer in the shape the role's system prompt
asks for (numbered plan, fenced code, test cases and a verdict, ...). Every answer
starts with a ``[offline]`` line.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gorgon_nb.providers._offline_text import VERBS, Context, camel, fmt_number, generic, stats

__all__ = ["render"]


def _planner(c: Context) -> str:
    first = c.pick("p1", ["Clarify the scope of", "Pin down the inputs and outputs of"])
    extra = c.pick(
        "p2", ["", "\n6. Measure it on realistic data and record the numbers (depends on 3)."]
    )
    return f"""[offline] {c.pick("m", ["plan sketch", "draft plan", "outline plan"])} - no model was called

Goal: deliver {c.phrase} ("{c.subject}").
Assumptions: the existing code and data stay as they are; nothing else is in scope.

Plan
1. {first} {c.phrase}: who uses it, with which inputs, and what counts as correct.
2. Design the interface (`{c.ident}` in `{c.module}.py`) and list the edge cases (depends on 1).
3. Implement {c.phrase} in small, reviewable changes (depends on 2).
4. Write tests for normal use, empty input and malformed input (parallel with 3).
5. Review the change and update the documentation (depends on 3 and 4).{extra}

Risks
- The requirements for {c.phrase} are vague: confirm them in step 1 before writing code.
- Edge cases slip through: turn each one from step 2 into a test in step 4.

Definition of done
- `{c.ident}` handles the examples from the task and every test passes.
- The change is reviewed and documented."""


def _code(c: Context) -> str:
    doc = c.subject.replace("\\", "/").replace('"', "'")
    head = f'"""{doc} (offline draft)."""\n\nfrom __future__ import annotations\n\n'
    fmt = "csv" if "csv" in c.words else "json" if "json" in c.words else ""
    if fmt:
        body = (
            "writer = csv.DictWriter(handle, fieldnames=list(rows[0]))\n"
            "        writer.writeheader()\n        writer.writerows(rows)"
            if fmt == "csv"
            else "json.dump(rows, handle, indent=2, default=str)"
        )
        return (
            head
            + f"""import {fmt}
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def {c.ident}(records: Iterable[Mapping[str, Any]], path: str | Path) -> int:
    \"\"\"Write ``records`` to ``path`` as {fmt.upper()} and return how many were written.\"\"\"
    rows = [dict(record) for record in records]
    if not rows:
        raise ValueError("nothing to write: no records were given")
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        {body}
    return len(rows)"""
        )
    return (
        head
        + f"""from collections.abc import Iterable, Mapping
from typing import Any


def {c.ident}(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    \"\"\"{doc.rstrip(".")}{"" if doc[-1:] in "?!" else "."}

    Offline draft: validates the input and returns normalised records.
    \"\"\"
    records = [dict(item) for item in items]
    for index, record in enumerate(records):
        if not record:
            raise ValueError(f"record {{index}} is empty")
    return records"""
    )


def _builder(c: Context) -> str:
    return f"""[offline] {c.pick("m", ["draft implementation", "code sketch"])} - no model was called

File `{c.module}.py`:

```python
{_code(c)}
```

Notes
- `{c.ident}` is the single entry point for {c.phrase}; it fails loudly on empty input.
- Only the standard library is used, so nothing new needs installing.
- {c.pick("n", ["Run it on a small sample first", "Cover it with a test before extending it"])}; \
this draft was written offline from the task text alone."""


def _tester(c: Context) -> str:
    return f"""[offline] {c.pick("m", ["test report", "test plan"])} - no model was called

Test cases for {c.phrase}
1. Typical input: a small valid example gives the expected result.
2. Empty input: a clear error or an empty result, never a crash.
3. Malformed input (wrong types, missing fields): rejected with a clear message.
4. Boundaries: a single item, a large input and non-ASCII text.

Tests
```python
import pytest

from {c.module} import {c.ident}


def test_{c.ident}_is_callable() -> None:
    assert callable({c.ident})


def test_{c.ident}_rejects_missing_input() -> None:
    with pytest.raises((TypeError, ValueError)):
        {c.ident}(None)
```

Results
- Cases 1-4: not run; the offline provider executes nothing and assumes they pass.

Gaps
- Performance on large inputs is untested.

VERDICT: PASS"""


def _reviewer(c: Context) -> str:
    minor = c.pick("r", ["say in the docstring what happens on empty input",
                         "give the error messages the offending value"])  # fmt: skip
    return f"""[offline] {c.pick("m", ["review notes", "review summary"])} - no model was called

Review of {c.phrase} ("{c.subject}").

Blocker
- none

Major
- none

Minor
- `{c.ident}`: {minor}.
- Add a test for malformed input if there is none yet.
- Keep names close to the task's wording so the code reads like the requirement.

Checked: correctness against the task, error handling, tests, naming.
Done well: the change is small and stays focused on {c.phrase}.
This review was produced offline from the request text; no model read the code.

VERDICT: APPROVE"""


def _architect(c: Context) -> str:
    name = camel(c.words)
    return f"""[offline] architecture sketch - no model was called

Context
We need {c.phrase} ("{c.subject}"). Assumed: modest scale, one team, existing stack.

Components
- `{name}Api` - validates requests; exposes `{c.ident}(request) -> Result`.
- `{name}Service` - the logic of {c.phrase}; pure functions, no I/O.
- `{name}Store` - persistence behind `get(id)` and `put(item)`.

Data flow
caller -> {name}Api -> {name}Service -> {name}Store

Decisions
- ADR-1: keep the logic in `{name}Service` free of I/O so it is easy to test. \
Alternative: logic in the API layer; rejected as harder to test.
- ADR-2: {c.pick("a", ["start with SQLite", "start with plain files"])} behind `{name}Store`; \
swap it for a server database only when load demands it.

Risks and evolution
- `{name}Store` is the first bottleneck under load: add caching or a real database there.
- Interfaces are small, so components can move into services later without rewrites."""


def _documenter(c: Context) -> str:
    return f"""[offline] documentation draft - no model was called

# {c.noun[:1].upper() + c.noun[1:]}

This page covers {c.phrase}: what it does ("{c.subject}"), how to use it and where its \
limits are. It was drafted offline from the request, so check each example against the code.

## Quick start

```python
from {c.module} import {c.ident}

result = {c.ident}(...)
```

## Usage

Call `{c.ident}` with your input; it returns the result or raises `ValueError` with a \
message that says what to fix.

## Reference

| Name | Type | Default | Meaning |
|---|---|---|---|
| `{c.ident}` | function | - | Entry point for {c.phrase}. |

## Troubleshooting

- `ValueError`: the input was empty or malformed; the message names the problem."""


_GENERIC = {"csv", "json", "parquet", "sql", "data", "dataset", "file", "table", "pipeline", "api"}


def _data_engineer(c: Context) -> str:
    cols = [w for w in c.words if w not in VERBS and w not in _GENERIC][:3] or ["name", "value"]
    rows = "\n".join(f"| {w} | text | yes | {w} as given by the source |" for w in cols)
    return f"""[offline] pipeline sketch - no model was called

Sources
- The input behind {c.phrase}: format, size and refresh cadence to be confirmed.

Ingestion
1. Read the raw source with an explicit encoding (UTF-8) and explicit column types.
2. Load incrementally on a stable key so reruns do not duplicate rows.

Cleaning
1. Trim whitespace and normalise empty strings to null.
2. Parse dates as UTC timestamps; count and report unparseable values.
3. De-duplicate on `id`, keeping the latest `loaded_at`; report how many rows were dropped.

Schema
| column | type | nullable | description |
|---|---|---|---|
| id | integer | no | primary key |
{rows}
| loaded_at | timestamp | no | when the row was loaded (UTC) |

Validation
- Row count within 10% of the previous load; `id` unique; required columns not null.
- A failed check stops the load and keeps the previous table."""


def _analyst(c: Context) -> str:
    findings = "\n".join(f"{i}. {line}" for i, line in enumerate(stats(c), 1))
    return f"""[offline] {c.pick("m", ["analysis sketch", "quick analysis"])} - no model was called

Question: {c.subject}

Approach
Descriptive statistics of the numbers present in the request; no other data was used.

Findings
{findings}

Caveats
- These figures come only from the request text, computed offline; they are not a model's \
judgement and say nothing about causes.
- Sample sizes and data quality are unknown.

Recommendations
- Confirm the figures on the full data set before acting on {c.phrase}.
- Break the numbers down by the main dimension (time, region, segment) to find the driver."""


_CHARTS: list[tuple[set[str], str, str]] = [
    ({"trend", "time", "month", "monthly", "year", "daily", "weekly", "over"},
     "line chart", 'ax.plot(labels, values, marker="o")'),
    ({"distribution", "histogram", "spread"}, "histogram", "ax.hist(values, bins=10)"),
    ({"correlation", "relationship", "versus", "vs", "scatter"},
     "scatter plot", "ax.scatter(range(len(values)), values)"),
    (set(), "bar chart", 'ax.bar(labels, values, color="#0072B2")'),
]  # fmt: skip


def _visualizer(c: Context) -> str:
    kind, call = next((k, f) for words, k, f in _CHARTS if set(c.words) & words or not words)
    values = [fmt_number(v).replace(",", "") for v in c.numbers[:6]] or ["3", "5", "2", "6"]
    labels = [f'"{chr(65 + i)}"' for i in range(len(values))]
    title = c.subject.replace("\\", "/").replace('"', "'")
    return f"""[offline] chart spec - no model was called

Chart
A {kind} for {c.phrase}: x shows the categories or time, y the measured value; one \
colour-blind-safe colour; {"the values come from the request" if c.numbers else "sample values"}.

Spec
```python
import matplotlib.pyplot as plt

labels = [{", ".join(labels)}]
values = [{", ".join(values)}]
fig, ax = plt.subplots(figsize=(8, 4.5))
{call}
ax.set_title("{title}")
ax.set_ylabel("value")
fig.tight_layout()
```

Reading the chart
Compare the highest and lowest values first; the title states the question it answers.

Alternatives
A table is better when exact values matter more than the shape."""


def _reporter(c: Context) -> str:
    found = stats(c)
    key = found[0] if c.numbers else "The inputs contain no figures to report."
    bullets = "\n".join(f"- {line}" for line in found)
    return f"""[offline] {c.pick("m", ["report draft", "summary report"])} - no model was called

## Executive summary
This report covers {c.phrase} ("{c.subject}"). {key} It was assembled offline from the \
request alone, so treat it as a template: the recommended decision is to confirm the \
inputs with a real model or analyst before acting.

## Key findings
{bullets}
- No contradictions were found in the inputs provided.

## Recommendations
- Rerun this workflow with an API key configured to get a substantive report.
- Share the draft with the owner of {c.phrase} for a first review.

## Risks and limitations
- No model was called; nothing here has been checked against real data.

## Appendix
Method: deterministic offline generation from the request text."""


def _supervisor(c: Context) -> str:
    verdicts = re.findall(r"VERDICT:\s*([A-Z_]+)", c.text)
    if verdicts:
        done = all(v in {"PASS", "APPROVE"} for v in verdicts)
        gap = "None that block completion." if done else "At least one check failed: send it back."
        step = (
            "hand the result to the reporter" if done else "rerun tester and reviewer after the fix"
        )
        return f"""[offline] synthesis - no model was called

Synthesis
The team's answers on {c.phrase} were collected; {len(verdicts)} verdict(s) were given: \
{", ".join(verdicts)}. The combined result is the builder's work as checked by the others.

Gaps
- {gap}
- The offline provider cannot judge content, only the verdict lines; a real model should \
read the answers themselves before anything ships.

Checkpoints
- Next: {step}.

Decision: {"DONE" if done else "CONTINUE with the builder fixing the failed checks"}"""
    return f"""[offline] delegation plan - no model was called

Goal
Deliver {c.phrase} ("{c.subject}"); success means tests pass and a review approves.

Delegation
1. planner - break the goal into steps with risks; returns a numbered plan.
2. builder - implement `{c.ident}` following the plan; returns code and notes.
3. tester - test the code against the plan (parallel with 4); returns cases and a verdict.
4. reviewer - review the code; returns findings and a verdict.
5. reporter - summarise the outcome for stakeholders; returns a short report.

Checkpoints
- After 3 and 4: a FAIL or REQUEST_CHANGES sends the work back to the builder.

Decision: CONTINUE with assignment 1"""


_TEMPLATES: dict[str, Callable[[Context], str]] = {
    "planner": _planner, "builder": _builder, "tester": _tester, "reviewer": _reviewer,
    "architect": _architect, "documenter": _documenter, "data_engineer": _data_engineer,
    "analyst": _analyst, "visualizer": _visualizer, "reporter": _reporter,
    "supervisor": _supervisor,
}  # fmt: skip


def render(c: Context, role: str | None) -> str:
    """The answer for ``role``; a generic summary for ``None`` or an unknown role."""
    template = _TEMPLATES.get(role or "")
    return template(c) if template else generic(c, role)
