"""The offline provider: deterministic, role-shaped answers without a model.

Used when no API key is configured, in tests and in demos. The same request always
gets the same answer: any variety comes from a SHA-256 of the request, never from a
clock or a random generator. Text answers start with a ``[offline]`` line so nobody
takes them for a real model's; the role of the request (``planner``, ``builder``, ...)
picks the shape of the answer and the task in the messages fills it in. When the
request asks for JSON, the answer is only JSON, built to match the requested schema.

Tools: when a request offers tools and its conversation holds no tool result yet, the
offline model calls each offered tool that the prompt (the user's messages) names, by
reference (``kernel.describe_dataframe``, ``files.write_file``, ``mcp:fs/read_text_file``)
or by wire name (``kernel_describe_dataframe``), in the order first named, all in one turn.
A JSON object written right after the name is the call's arguments
(``files.write_file {"path": "hello.py", "content": "print(1)"}``); otherwise each
required argument is filled from the prompt by its name: ``path``/``file``/``filename``
the first file name (``data.csv``, else ``notes.md``), ``name``/``variable``/``var`` the
first identifier in backticks, ``code`` the first fenced code block (else
``print("hello")``), ``command``/``cmd`` the first backticked text that looks like a
command (else ``ls``), ``content``/``text``/``body`` the answer the role would give, any
other its schema's default or its type's empty value. A prompt that names no offered
tool gets no call. Once the conversation holds tool results, the answer is the one the
request would get without tools, followed by "From the tools:" and each call's name and
the start of its result (errors marked).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

from gorgon_nb.errors import ConfigError
from gorgon_nb.model.usage import Usage
from gorgon_nb.providers._offline_templates import render
from gorgon_nb.providers._offline_text import Context
from gorgon_nb.providers._offline_tools import (
    from_the_tools,
    has_results,
    plan_calls,
    without_tool_turns,
)
from gorgon_nb.providers.base import Completion, LLMRequest, TextCallback, ToolCall

__all__ = ["OfflineProvider", "json_from_schema", "stream_pieces"]

_MAX_DEPTH = 6  # deeper than this, objects keep only required keys and arrays shrink to minItems
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "offline@example.com",
    "uri": "https://example.com/offline",
    "url": "https://example.com/offline",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "hostname": "offline.example.com",
}


class OfflineProvider:
    """A provider that answers without a model: deterministic, free and, by default, instant.

    ``delay`` seconds are awaited between streamed pieces (or once, when not streaming),
    to make progress displays visible in demos.
    """

    name = "offline"

    def __init__(self, delay: float = 0.0) -> None:
        if delay < 0:
            raise ConfigError(f"offline provider delay must be >= 0 seconds, got {delay}")
        self.delay = delay

    def answer(self, request: LLMRequest) -> str:
        """The text ``complete`` returns for ``request`` (when it calls no tool)."""
        if has_results(request):
            return f"{self._answer(without_tool_turns(request))}\n\n{from_the_tools(request.messages)}"
        return self._answer(request)

    def tool_calls(self, request: LLMRequest) -> tuple[ToolCall, ...]:
        """The tool calls ``complete`` asks for in answer to ``request`` (see the module doc)."""
        return plan_calls(request, lambda: render(Context.of(request), request.role))

    def _answer(self, request: LLMRequest) -> str:
        context = Context.of(request)
        if request.json_schema is not None:
            plan = _delegation_plan(request, context.subject)
            value = plan if plan is not None else json_from_schema(request.json_schema, subject=context.subject)
            return json.dumps(value, indent=2, ensure_ascii=False)
        return render(context, request.role)

    async def complete(
        self, request: LLMRequest, *, on_delta: TextCallback | None = None
    ) -> Completion:
        calls = self.tool_calls(request)
        text = "" if calls else self.answer(request)
        finish_reason = "tool_calls" if calls else "stop"
        if _tokens(text) > request.max_tokens:  # honour the cap like a real model
            text, finish_reason = text[: request.max_tokens * 4], "length"
        if on_delta is not None:
            for i, piece in enumerate(stream_pieces(text)):
                if i and self.delay > 0:
                    await asyncio.sleep(self.delay)
                on_delta(piece)
        elif self.delay > 0:
            await asyncio.sleep(self.delay)
        prompt = request.system + "".join(m.content for m in request.messages)
        asked = "".join(c.name + json.dumps(c.arguments) for c in calls)
        usage = Usage(input_tokens=_tokens(prompt), output_tokens=_tokens(text + asked), calls=1)
        return Completion(text=text, usage=usage, model="offline", finish_reason=finish_reason, tool_calls=calls)


# Words in a task that call for a role, for the supervisor's plan (first match wins the order).
_ROLE_WORDS = (
    ("planner", ("plan", "steps", "roadmap")),
    ("architect", ("architect", "design", "structure")),
    ("data_engineer", ("ingest", "clean", "pipeline", "schema")),
    ("builder", ("build", "implement", "code", "write a", "loader", "function", "script")),
    ("tester", ("test", "verify", "check")),
    ("reviewer", ("review", "audit", "critique")),
    ("analyst", ("analy", "insight", "trend", "statistic")),
    ("visualizer", ("chart", "plot", "visual", "graph")),
    ("documenter", ("document", "docs", "readme", "explain")),
    ("reporter", ("report", "summar", "brief")),
)


def _delegation_plan(request: LLMRequest, subject: str) -> dict[str, Any] | None:
    """A supervisor's plan, from the words of the task; None when this is not one."""
    delegations = (request.json_schema or {}).get("properties", {}).get("delegations")
    if request.role != "supervisor" or not isinstance(delegations, dict):
        return None
    allowed = delegations.get("items", {}).get("properties", {}).get("role", {}).get("enum", [])
    limit = int(delegations.get("maxItems", 3))
    text = next((m.content for m in request.messages if m.role == "user"), "").split("\n\n")[0].lower()
    chosen = [role for role, words in _ROLE_WORDS if role in allowed and any(w in text for w in words)][:limit]
    return {"delegations": [{"role": role, "task": f"the {role.replace('_', ' ')}'s part of: {subject}"}
                            for role in chosen]}


def stream_pieces(text: str, words: int = 4) -> list[str]:
    """``text`` cut into pieces of a few words each; ``"".join`` gives ``text`` back."""
    return re.findall(rf"(?:\s*\S+\s*){{1,{words}}}", text) or ([text] if text else [])


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def json_from_schema(schema: Any, *, subject: str = "the request") -> Any:
    """A value that validates against the JSON ``schema``, with strings about ``subject``.

    An empty schema means "any JSON" and gives ``{"offline": true, "summary": ...}``.
    Free strings mention "offline"; enums and consts take their first value.
    """
    if schema == {}:
        return {"offline": True, "summary": f"offline answer: {subject}"}
    return _Generator(schema if isinstance(schema, dict) else {}, subject).value(
        schema, "", None, 0
    )


class _Generator:
    def __init__(self, root: dict[str, Any], subject: str) -> None:
        self.root = root
        self.subject = subject

    def value(self, schema: Any, key: str, index: int | None, depth: int) -> Any:
        if depth > 2 * _MAX_DEPTH:  # a schema that requires itself without end
            return None
        if not isinstance(schema, dict):  # the boolean schema ``true`` (``false`` has no value)
            return self.string({}, key, index)
        schema = self.resolve(schema, depth)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            options = schema["enum"]
            return options[(index or 0) % len(options)]
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = self.infer(schema)
        if kind == "object":
            return self.object(schema, index, depth)
        if kind == "array":
            return self.array(schema, key, depth)
        if kind in ("integer", "number"):
            return self.number(schema, kind == "integer", index or 0)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self.string(schema, key, index)

    def resolve(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        """``schema`` with ``$ref``, ``allOf`` and ``anyOf``/``oneOf`` folded in."""
        for _ in range(_MAX_DEPTH):
            ref = schema.get("$ref")
            if isinstance(ref, str) and ref.startswith("#"):
                target: Any = self.root
                for part in ref.lstrip("#").strip("/").split("/"):
                    if part:
                        target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                schema = _merge(target if isinstance(target, dict) else {}, rest)
                continue
            if "allOf" in schema:
                merged = {k: v for k, v in schema.items() if k != "allOf"}
                for part in schema["allOf"]:
                    merged = _merge(merged, part if isinstance(part, dict) else {})
                schema = merged
                continue
            for combo in ("anyOf", "oneOf"):
                if combo in schema:
                    options = [o for o in schema[combo] if isinstance(o, dict)]
                    useful = [o for o in options if o.get("type") != "null"] or options
                    rest = {k: v for k, v in schema.items() if k != combo}
                    schema = _merge(rest, useful[0] if useful else {})
                    break
            else:
                return schema
        return schema

    @staticmethod
    def infer(schema: dict[str, Any]) -> str:
        if {"properties", "required", "additionalProperties"} & schema.keys():
            return "object"
        if {"items", "prefixItems", "minItems", "maxItems"} & schema.keys():
            return "array"
        if {
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
        } & schema.keys():
            return "number"
        return "string"

    def object(self, schema: dict[str, Any], index: int | None, depth: int) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties") or {}
        required: list[str] = list(schema.get("required") or [])
        extra = schema.get("additionalProperties", True)
        keys = list(props) if depth < _MAX_DEPTH else [k for k in props if k in required]
        out = {k: self.value(props[k], k, index, depth + 1) for k in keys}
        for k in required:
            if k not in out:
                out[k] = self.value(extra if isinstance(extra, dict) else {}, k, index, depth + 1)
        if not props and not required:
            if extra is True:
                out = {"offline": True, "summary": f"offline answer: {self.subject}"}
            elif isinstance(extra, dict):
                out = {"offline": self.value(extra, "offline", None, depth + 1)}
        return out

    def array(self, schema: dict[str, Any], key: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", {})
        if isinstance(items, list):  # the tuple form of drafts 4 to 2019-09
            prefix, items = items, schema.get("additionalItems", {})
        low = int(schema.get("minItems", 0))
        count = max(low, 2) if depth < _MAX_DEPTH else low
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        if items is False:
            count = min(count, len(prefix))
        item_key = key[:-1] if key.endswith("s") and len(key) > 3 else key or "item"
        return [
            self.value(prefix[i] if i < len(prefix) else items, item_key, i, depth + 1)
            for i in range(count)
        ]

    @staticmethod
    def number(schema: dict[str, Any], integer: bool, index: int) -> int | float:
        low, low_open = _bound(schema, "minimum", "exclusiveMinimum", lower=True)
        high, high_open = _bound(schema, "maximum", "exclusiveMaximum", lower=False)
        multiple = schema.get("multipleOf")
        unit = multiple or (1 if integer else None)
        if integer and isinstance(multiple, float) and not multiple.is_integer():
            unit = 1  # every integer is a multiple of most fractions; keep it simple
        if not unit:  # a real number: anything strictly inside the bounds will do
            if low is not None and high is not None:
                return round(low + (high - low) * (index + 1) / (index + 2), 6)
            if low is not None:
                return low + (1 if low_open else 0) + index
            if high is not None:
                return min(high - (1 if high_open else 0), 0.5 + index)
            return 0.5 + index
        k_low = k_high = None
        if low is not None:
            k_low = math.ceil(low / unit) + (
                1 if low_open and math.ceil(low / unit) * unit <= low else 0
            )
        if high is not None:
            k_high = math.floor(high / unit) - (
                1 if high_open and math.floor(high / unit) * unit >= high else 0
            )
        start = max(1, round(1 / unit)) + index
        if k_low is not None and k_high is not None:
            start = min(k_high, (k_low + k_high) // 2 + index)
        elif k_low is not None:
            start = k_low + index
        elif k_high is not None:
            start = min(k_high, start)
        for k in (start + d for d in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5)):
            value = k * unit if integer else round(k * unit, 10)
            fits = (k_low is None or k >= k_low) and (k_high is None or k <= k_high)
            if fits and (not multiple or (value / multiple) == int(value / multiple)):
                return int(value) if integer else value
        return int(start * unit) if integer else start * unit

    def string(self, schema: dict[str, Any], key: str, index: int | None) -> str:
        fmt = schema.get("format")
        if fmt in _FORMATS:
            return _FORMATS[fmt]
        label = key.replace("_", " ").strip() or "answer"
        if index is not None:
            label = f"{label} {index + 1}"
        text = f"offline {label}: {self.subject}"
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        if len(text) < low:
            text += "." * (low - len(text))
        if high is not None:
            text = text[: int(high)].rstrip()
            text += "." * (low - len(text))
        pattern = schema.get("pattern")
        if pattern and not re.search(pattern, text):
            candidates = ["offline", "OFFLINE", "offline-1", "a", "0", "A1", ""]
            text = next((t for t in candidates if re.search(pattern, t)), text)
        return text


def _bound(
    schema: dict[str, Any], inclusive: str, exclusive: str, *, lower: bool
) -> tuple[Any, bool]:
    """The tighter of ``minimum``/``exclusiveMinimum`` (or the maxima), and whether it is open."""
    value, strict = schema.get(inclusive), schema.get(exclusive)
    if strict is True:  # draft 4: a boolean that makes ``minimum``/``maximum`` exclusive
        return value, value is not None
    is_number = isinstance(strict, int | float) and not isinstance(strict, bool)
    if is_number and (value is None or (strict >= value if lower else strict <= value)):
        return strict, True
    return value, False


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``extra``; ``properties`` and ``required`` are combined."""
    merged = {**base, **extra}
    if "properties" in base and "properties" in extra:
        merged["properties"] = {**base["properties"], **extra["properties"]}
    if "required" in base and "required" in extra:
        merged["required"] = list(dict.fromkeys([*base["required"], *extra["required"]]))
    return merged
