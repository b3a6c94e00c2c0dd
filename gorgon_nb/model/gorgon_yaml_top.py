"""The top of a Gorgon YAML workflow (id, inputs, outputs, budget) and what the conversion shares."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gorgon_nb.errors import WorkflowError, did_you_mean
from gorgon_nb.model.gorgon_text import Scope
from gorgon_nb.model.source import Conversion

__all__ = ["ON_FAILURE", "ROLES", "SEPARATOR", "STEP_TYPES", "UNSUPPORTED", "WRITING_ROLES", "Base", "slug",
           "unsupported_type"]

# Gorgon-only keys: a file holding one is Gorgon's, whatever else it has.
GORGON_KEYS = frozenset({"token_budget", "timeout_seconds", "settings", "metadata"})
STEP_TYPES = ("claude_code", "openai", "shell", "checkpoint", "approval", "parallel", "fan_out", "fan_in",
              "map_reduce", "mcp_tool")
UNSUPPORTED = ("branch", "loop")
ROLES = {"data_analyst": "analyst", "security_analyst": "security_auditor"}
# Gorgon's roles whose agents edit files: they get the files tools here.
WRITING_ROLES = frozenset({"builder", "tester", "migrator", "model_builder", "devops", "documenter"})
ON_FAILURE = {"abort": "fail", "retry": "fail", "skip": "skip", "continue": "continue",
              "continue_with_default": "continue", "fallback": "continue"}
_TYPES = {"string": "string", "str": "string", "text": "string", "integer": "integer", "int": "integer",
          "number": "number", "float": "number", "boolean": "boolean", "bool": "boolean", "list": "list",
          "array": "list", "object": "object", "dict": "object", "json": "any", "any": "any"}
SEPARATOR = "\n---\n"  # Gorgon joined the items of fan_in and map_reduce with it



def slug(name: str) -> str:
    """A workflow id from a name: "Feature Build" -> ``feature_build``."""
    text = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower() or "gorgon_workflow"
    return text if not text[0].isdigit() else f"_{text}"




class Base(Conversion):
    """Problems and line locations, shared by the parts of the conversion."""

    def check(self) -> None:
        if self.problems:
            raise WorkflowError(sorted(self.problems, key=lambda p: p.line or 0))

    # -- the top level ------------------------------------------------------------------------

    def top(self) -> tuple[dict[str, Any], Scope]:
        data = self.data
        out: dict[str, Any] = {}
        name = data.get("name")
        given = data.get("id")
        out["id"] = given if isinstance(given, str) and given else slug(name if isinstance(name, str) else "")
        self.link(("id",), ("id",) if "id" in data else ("name",))
        for key in ("name", "description", "version"):
            if key in data:
                out[key] = str(data[key]) if key == "version" and isinstance(data[key], float) else data[key]
                self.link((key,), (key,))
        if "token_budget" in data:
            out["budget"] = {"max_tokens": data["token_budget"]}
            self.link(("budget",), ("token_budget",))
            self.link(("budget", "max_tokens"), ("token_budget",))
        if "timeout_seconds" in data:
            out["timeout"] = data["timeout_seconds"]
            self.link(("timeout",), ("timeout_seconds",))
        settings = data.get("settings") or {}
        if not isinstance(settings, Mapping):
            self.problem(("settings",), "settings", "'settings' must be a mapping", "for example {auto_parallel: true}")
        out["inputs"] = self.inputs(data.get("inputs") or {})
        scope = Scope({name: f"inputs.{name}" for name in out["inputs"]})
        return out, scope

    def inputs(self, raw: Any) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if isinstance(raw, Mapping):
            entries = [((("inputs", key)), key, value) for key, value in raw.items()]
        elif isinstance(raw, list):
            entries = []
            for i, item in enumerate(raw):
                if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                    self.problem(("inputs", i), f"inputs[{i}]", "an input in the list form needs a 'name'",
                                 "write - {name: topic, type: string, description: ...}")
                    continue
                entries.append((("inputs", i), item["name"], {k: v for k, v in item.items() if k != "name"}))
        else:
            self.problem(("inputs",), "inputs", "'inputs' must be a mapping of names or a list of inputs")
            return found
        for where, key, spec in entries:
            self.link(("inputs", key), where)
            if not isinstance(spec, Mapping):  # `name: default` shorthand
                spec = {"default": spec}
            native: dict[str, Any] = {"type": _TYPES.get(str(spec.get("type", "string")).lower(), "any")}
            self.link(("inputs", key, "type"), (*where, "type") if "type" in spec else where)
            if spec.get("description"):
                native["description"] = str(spec["description"])
            if "default" in spec:
                native["default"], native["required"] = spec["default"], False
            elif spec.get("required") is False:
                native["required"] = False
            else:
                native["required"] = True  # Gorgon's list form has no `required`: no default means required
            if isinstance(spec.get("enum"), list):
                native["enum"] = spec["enum"]
            found[key] = native
        return found

    def outputs(self, raw: Any, scope: Scope) -> dict[str, Any] | None:
        if raw is None:
            return None
        if not isinstance(raw, list):
            self.problem(("outputs",), "outputs", "'outputs' must be a list of names")
            return None
        found: dict[str, Any] = {}
        for i, item in enumerate(raw):
            name = item.get("name") if isinstance(item, Mapping) else item
            if not isinstance(name, str):
                self.problem(("outputs", i), f"outputs[{i}]", "an output is a name, or {name: ..., description: ...}")
                continue
            # Gorgon returned only the names its context held; one never set is none here
            found[name] = "{{ " + scope.names[name] + " }}" if name in scope.names else None
            self.link(("outputs", name), ("outputs", i))
        return found


def unsupported_type(kind: Any) -> tuple[str, str]:
    """The message and hint for a step type this converter does not take."""
    if kind in UNSUPPORTED:
        return (f"Gorgon's '{kind}' steps are not supported",
                "rewrite it natively: a 'when' condition for a branch, a loop step with 'until' for a loop "
                "(gorgon convert FILE prints the rest of the workflow natively)")
    return f"unknown step type {kind!r}", did_you_mean(str(kind), STEP_TYPES) or \
        "step types: " + ", ".join(STEP_TYPES)
