"""Reading a request for the offline provider: its subject, key words and numbers.

``Context.of(request)`` extracts what the answer templates need (the task in the user's
words, a noun phrase for it, a Python name built from it, the numbers in the messages)
and a seed derived from the whole request with SHA-256, so that every choice made from
it is the same in every process.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from gorgon_nb.providers.base import LLMRequest

__all__ = ["VERBS", "Context", "camel", "fmt_number", "generic", "plural", "stats"]


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


VERBS = _wordset(
    "add build create implement write make fix refactor design analyse analyze plot draw chart "
    "visualise visualize report document test review load ingest clean compute calculate find "
    "explain summarise summarize update improve support remove migrate investigate compare show "
    "generate develop setup enable allow plan prepare draft describe evaluate estimate measure "
    "predict forecast optimise optimize convert export import parse read save store"
)
_STOP = _wordset(
    "a an the to for of in on and or with from into by that this it its be is are as at we our "
    "us i me my your you should must please new some all each using via so can will which what "
    "how do does did would could about why when where who whom whose there these those was were "
    "been has have had not no also just only very more most like want need let"
)
_QUESTION = re.compile(
    r"^(why|what|how|which|who|when|where|is|are|does|do|did|can|should)\b", re.I
)
_LABEL = re.compile(
    r"^[#>*\s]*(?:task|goal|objective|question|request|topic|subject|feature)\**\s*[:\-]\s*(.*)$",
    re.I | re.M,
)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")


@dataclass(frozen=True)
class Context:
    """What the answer templates know about a request."""

    seed: str  # hex digest of the whole request: the source of all variety
    subject: str  # the task in the user's words, one sentence, at most 12 words
    noun: str  # the subject without its leading verb and article ("CSV export")
    phrase: str  # a noun phrase usable in a sentence ("the CSV export")
    ident: str  # a Python name built from the task ("add_csv_export")
    module: str  # a module name for imports ("csv_export")
    words: tuple[str, ...]  # lowercased key words of the subject
    text: str  # every message, joined
    numbers: tuple[float, ...]  # the numbers found in the messages

    def pick(self, salt: str, options: Sequence[str]) -> str:
        """One of ``options``, the same one every time for this request and ``salt``."""
        digest = hashlib.sha256(f"{self.seed}:{salt}".encode()).digest()
        return options[int.from_bytes(digest[:4], "big") % len(options)]

    @classmethod
    def of(cls, request: LLMRequest) -> Context:
        payload = json.dumps(
            [
                request.model,
                request.system,
                [(m.role, m.content) for m in request.messages],
                request.role,
                request.json_schema,
            ],
            sort_keys=True,
            default=str,
        )
        text = "\n\n".join(m.content for m in request.messages)
        users = [m.content for m in request.messages if m.role == "user"]
        subject = subject_of(users[-1] if users else text)
        tokens = re.findall(r"[A-Za-z][A-Za-z0-9]*", subject)
        words = tuple(t.lower() for t in tokens if t.lower() not in _STOP)
        rest = subject.split()
        # "Review this function for security" -> "function for security": the leading
        # verbs, articles and prepositions would read badly after "the".
        while rest and (rest[0].lower() in VERBS or rest[0].lower().strip(",:") in _LEADING):
            rest = rest[1:]
        if all(w.lower().strip(".,:;!?") in _STOP for w in rest):
            rest = ["task"]
        noun = " ".join(rest)
        if noun[:1].isupper() and noun[1:2].islower():
            noun = noun[0].lower() + noun[1:]
        phrase = "this question" if _QUESTION.match(subject) else f"the {noun}"
        return cls(
            seed=hashlib.sha256(payload.encode()).hexdigest(),
            subject=subject,
            noun=noun,
            phrase=phrase,
            ident=_identifier(words, "solve_task"),
            module=_identifier(_drop_verb(words), "solution"),
            words=words,
            text=text,
            numbers=tuple(float(n) for n in _NUMBER.findall(text)),
        )


_LEADING = frozenset({"a", "an", "the", "some", "this", "that", "these", "those", "my", "our", "your",
                      "for", "of", "on", "to", "in", "with", "about", "and"})


def subject_of(text: str) -> str:
    """The task in ``text``: a ``Task:``-style line, else the first line with words in it."""
    labelled = _LABEL.search(text)
    lines: list[str] = []
    if labelled:
        value = labelled.group(1).strip()
        lines = [value] if value else text[labelled.end() :].strip().splitlines()[:1]
    lines += [ln for ln in text.splitlines() if not ln.strip().startswith("```")]
    for line in lines:
        line = re.sub(r"^[\s#>*\-\d.)]+", "", line).strip().strip("*`\"'")
        if re.search(r"[A-Za-z0-9]", line):
            sentence = re.split(r"(?<=[.!?])\s", line)[0].rstrip(" .!:;,")
            return " ".join(sentence.split()[:12])
    return "the request"


def _identifier(words: Sequence[str], default: str) -> str:
    name = "_".join(words[:4]) or default
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        name += "_task"
    return name


def _drop_verb(words: Sequence[str]) -> Sequence[str]:
    return words[1:] if words and words[0] in VERBS else words


def camel(words: Sequence[str]) -> str:
    """``("add", "csv", "export")`` -> ``"CsvExport"`` (a leading verb dropped)."""
    return "".join(w.capitalize() for w in _drop_verb(words)[:4]) or "Task"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def fmt_number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def stats(c: Context) -> list[str]:
    """Sentences describing the numbers in the request (or saying there are none)."""
    n = c.numbers
    if not n:
        return [
            f"The input has {plural(len(c.text.split()), 'word')} over "
            f"{plural(c.text.count(chr(10)) + 1, 'line')} "
            "and contains no numeric data, so no figures could be computed."
        ]
    found = [
        f"The input holds {len(n)} numeric values ranging from {fmt_number(min(n))} "
        f"to {fmt_number(max(n))}.",
        f"Their mean is {fmt_number(statistics.fmean(n))} and their median "
        f"{fmt_number(statistics.median(n))}.",
    ]
    if len(n) > 1 and n[0]:
        change = (n[-1] - n[0]) / abs(n[0])
        found.append(
            f"The last value ({fmt_number(n[-1])}) is {change:+.1%} "
            f"against the first ({fmt_number(n[0])})."
        )
    return found


def generic(c: Context, role: str | None) -> str:
    """The answer to a raw prompt, or to a role without a template: a summary of the prompt."""
    words = c.text.split()
    terms = ", ".join(dict.fromkeys(c.words[:6])) or "none"
    note = f" (role '{role}' has no offline template)" if role else ""
    gist = " ".join(words[:40]) + (" ..." if len(words) > 40 else "")
    lines = plural(c.text.count("\n") + 1, "line")
    return f"""[offline] {c.pick("m", ["echo summary", "prompt summary"])}{note} - no model was called

Request: "{c.subject}"
The prompt has {plural(len(words), "word")} over {lines}. Key terms: {terms}.

Gist: {gist}

This is a deterministic placeholder written without a language model: the same prompt \
always gets this same answer. Offline answers take the shape of the step's role (planner, \
builder, tester, reviewer and the others) and are filled in from the task text, which makes \
them good for trying out workflows, tests and demos at no cost. Configure an API key (for example ANTHROPIC_API_KEY or \
OPENAI_API_KEY) to get a real answer about {c.phrase}."""
