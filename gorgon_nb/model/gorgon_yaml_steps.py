"""The steps of a Gorgon YAML workflow as native steps (see ``gorgon_yaml`` for the mapping)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gorgon_nb.errors import did_you_mean
from gorgon_nb.model.gorgon_params import model_ref
from gorgon_nb.model.gorgon_text import (
    OPERATORS,
    Scope,
    condition,
    literal,
    substitute,
    substitute_all,
)
from gorgon_nb.model.gorgon_yaml_top import (
    ON_FAILURE,
    ROLES,
    SEPARATOR,
    STEP_TYPES,
    WRITING_ROLES,
    Base,
    unsupported_type,
)
from gorgon_nb.model.source import Path

__all__ = ["StepConverter"]

GORGON_RETRIES = 3  # StepConfig.max_retries: Gorgon tried every failing step again this often
# What a fan_out's step_template or a map_reduce's map_step may be: a single step.
ITEM_TYPES = ("claude_code", "openai", "shell", "mcp_tool")
SHELL_TIMEOUT = 300  # seconds: Gorgon's StepConfig.timeout_seconds, which its shell steps kept to
# The Gorgon param each native field comes from, for the line an error names.
_FROM_PARAM = {"agent": "role", "task": "prompt", "llm": "prompt", "system": "system_prompt", "shell": "command",
               "capture": "command", "checkpoint": "message", "approval": "prompt", "preview": "preview_from",
               "mcp": "server", "with": "arguments", "for_each": "items", "max_parallel": "max_concurrent",
               "tools": "role", "args": "input"}
# The keys of each type's result, as Gorgon's handlers returned them; a step's output name
# equal to one of them took that value, and the first output name took the first key listed.
_RESULT_KEYS = {
    "claude_code": ("response",), "openai": ("response",), "mcp_tool": ("response",), "fan_in": ("response",),
    "shell": ("stdout", "stderr", "returncode"), "fan_out": ("results",), "map_reduce": ("response", "map_results"),
    "approval": ("approved",), "checkpoint": ("checkpoint",), "parallel": (),
}


class StepConverter(Base):
    """Converts a Gorgon YAML workflow, step by step, into native data."""

    def run(self) -> dict[str, Any]:
        out, scope = self.top()
        raw_steps = self.data.get("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            self.problem(("steps",), "steps", "'steps' must be a list of steps", "write steps: [- id: ..., type: ...]")
            self.check()
            return out
        settings = self.data.get("settings")
        self.parallel = isinstance(settings, Mapping) and settings.get("auto_parallel") is True
        self.has_shell = _uses_shell(raw_steps)
        self.ids = _ids(raw_steps)
        self.steps: list[dict[str, Any]] = []
        previous: list[str] = []
        for i, raw in enumerate(raw_steps):
            here: Path = ("steps", i)
            if not self.valid(raw, here, top=True):
                continue
            exits = self.step(raw, here, scope, [] if self.parallel else previous)
            previous = exits or previous
        out["outputs"] = self.outputs(self.data.get("outputs"), scope)
        if out["outputs"] is None:
            del out["outputs"]
        if self.has_shell:
            out["allow_code"] = True  # the file's consent; the caller's is asked at run time
        out["steps"] = self.steps
        self.link(("steps",), ("steps",), deep=False)
        self.check()
        return out

    def valid(self, raw: Any, here: Path, *, top: bool) -> bool:
        label = f"steps[{here[-1]}]"
        if not isinstance(raw, Mapping):
            self.problem(here, label, "a step must be a mapping with id, type and params")
            return False
        known = len(self.problems)
        if top and not (isinstance(raw.get("id"), str) and raw["id"]):
            self.problem(here, f"{label}.id", "the step needs an 'id' (a name for it)", "add id: a_name")
        label = str(raw["id"]) if isinstance(raw.get("id"), str) else label
        kind = raw.get("type")
        if kind not in STEP_TYPES:
            if kind is None:
                message, hint = "the step needs a 'type'", "step types: " + ", ".join(STEP_TYPES)
            else:
                message, hint = unsupported_type(kind)
            self.problem((*here, "type") if "type" in raw else here, f"{label}.type", message, hint)
        if not isinstance(raw.get("params", {}), Mapping):
            self.problem((*here, "params"), f"{label}.params", "'params' must be a mapping")
        return len(self.problems) == known

    # -- one Gorgon step: one native step or a few ---------------------------------------------

    def step(self, raw: Mapping[str, Any], here: Path, scope: Scope, previous: list[str]) -> list[str]:
        """Add the native steps of ``raw``; return the ids a following step waits for."""
        kind, sid = raw["type"], raw.get("id", "")
        after = self.depends(raw, here, previous)
        if kind == "parallel":
            return self.group(raw, here, scope, after)
        if kind in ("fan_out", "map_reduce"):
            return self.pattern(raw, here, scope, after)
        self.add({"id": sid, **self.kind(raw, here, scope)}, raw, here, scope, after)
        return [sid]

    def pattern(self, raw: Mapping[str, Any], here: Path, scope: Scope, after: list[str]) -> list[str]:
        """``fan_out``: one step over the items. ``map_reduce``: that (``ID_map``), then the reduce step ``ID``."""
        kind, sid, params = raw["type"], raw["id"], raw.get("params") or {}
        template_key = "step_template" if kind == "fan_out" else "map_step"
        first = f"{sid}_map" if kind == "map_reduce" else sid
        items = self.items(params, (*here, "params", "items"), scope)
        body_raw = params.get(template_key)
        if not isinstance(body_raw, Mapping) or body_raw.get("type") not in ITEM_TYPES:
            where = (*here, "params", template_key) if template_key in params else (*here, "params")
            self.problem(where, f"{sid}.{template_key}", f"{kind} needs a '{template_key}' with a type and params",
                         "its type: " + ", ".join(ITEM_TYPES))
            return [sid]
        listed = items[2:-2].strip() if isinstance(items, str) else literal(items)
        inner = scope.with_names(item="item", index=f"({listed}).index(item)")
        native = {"id": first, **self.kind(body_raw, (*here, "params", template_key), inner),
                  "for_each": items, "max_parallel": params.get("max_concurrent", 5)}
        self.add(native, raw, here, scope, after, publish=kind == "fan_out")
        if kind == "fan_out":
            return [sid]
        reduce_raw = params.get("reduce_step")
        where = (*here, "params", "reduce_step")
        if not isinstance(reduce_raw, Mapping) or reduce_raw.get("type") not in ("claude_code", "openai"):
            self.problem(where if "reduce_step" in params else (*here, "params"), f"{sid}.reduce_step",
                         "map_reduce needs a 'reduce_step' of type claude_code or openai")
            return [sid]
        joined = f"steps.{first}.output | join({literal(SEPARATOR)})"
        reduced = self.kind(reduce_raw, where, scope.with_names(map_results=joined, items=joined))
        self.add({"id": sid, **reduced}, raw, here, scope, [first])
        return [sid]

    def group(self, raw: Mapping[str, Any], here: Path, scope: Scope, after: list[str]) -> list[str]:
        """Gorgon's ``parallel``: its steps at once (each after ``after`` and its own depends_on)."""
        subs = (raw.get("params") or {}).get("steps")
        if not isinstance(subs, list) or not subs:
            self.problem((*here, "params"), f"{raw['id']}.steps", "a parallel step needs 'steps': a list of steps")
            return after
        exits, seen = [], dict(scope.names)
        given: dict[str, dict[str, str]] = {}
        for j, sub in enumerate(subs):
            where = (*here, "params", "steps", j)
            if not self.valid(sub, where, top=True):
                continue
            own = Scope(dict(scope.names))
            for dep in _closure(sub, subs):
                own.names.update(given.get(dep, {}))
            before = dict(own.names)
            self.step(sub, where, own, after)
            given[sub["id"]] = {k: v for k, v in own.names.items() if before.get(k) != v}
            exits.append(sub["id"])
        for names in given.values():
            seen.update(names)
        scope.names.update(seen)
        return exits

    def depends(self, raw: Mapping[str, Any], here: Path, previous: list[str]) -> list[str]:
        own = raw.get("depends_on", [])
        own = [own] if isinstance(own, str) else own
        if not isinstance(own, list):
            self.problem((*here, "depends_on"), f"{raw.get('id')}.depends_on", "depends_on must be a step id or a list")
            return previous
        for k, dep in enumerate(own):
            if dep not in self.ids:
                hint = did_you_mean(str(dep), self.ids) or "name the id of another step of this workflow"
                self.problem((*here, "depends_on", k), f"{raw.get('id')}.depends_on",
                             f"depends_on names no step {dep!r}", hint)
        return list(dict.fromkeys([*previous, *(d for d in own if d in self.ids)]))

    def items(self, params: Mapping[str, Any], where: Path, scope: Scope) -> Any:
        items = params.get("items")
        if isinstance(items, list):
            return substitute_all(items, scope)
        text = substitute(items, scope) if isinstance(items, str) else ""
        if not text.startswith("{{"):
            self.problem(where, "items", f"items must be a list or '${{name}}' of a list, not {items!r}",
                         "write items: \"${files}\" with files an input or an earlier step's output")
            return []
        return text

    def add(self, native: dict[str, Any], raw: Mapping[str, Any], here: Path, scope: Scope, after: list[str], *,
            publish: bool = True) -> None:
        """Append ``native`` with the options every Gorgon step has; publish its outputs to ``scope``."""
        k, sid = len(self.steps), native["id"]
        at: Path = ("steps", k)
        self.link(at, here, deep=False)
        self.link((*at, "id"), (*here, "id") if "id" in raw else here)
        if after:
            native["depends_on"] = after
            self.link((*at, "depends_on"), (*here, "depends_on") if "depends_on" in raw else here)
        native["when"] = True  # a skipped step before this one does not skip it, as in Gorgon
        if isinstance(raw.get("condition"), Mapping) or "condition" in raw:
            native["when"] = self.condition(raw, here, scope)
            self.link((*at, "when"), (*here, "condition"))
        self.failure(native, raw, here, at)
        if "timeout_seconds" in raw:
            native["timeout"] = raw["timeout_seconds"]
            self.link((*at, "timeout"), (*here, "timeout_seconds"))
        elif "shell" in native:
            native["timeout"] = SHELL_TIMEOUT
        for key in native:  # each field's line: the param it came from, else the step's params or type
            if (*at, key) not in self.lines:
                param = _FROM_PARAM.get(key, key)
                found = (*here, "params", param)
                self.link((*at, key), found if self.found.line_of(found) != self.found.line_of(here) else
                          (*here, "type") if "type" in raw else here)
        self.steps.append(native)
        if publish:
            self.publish(raw, sid, scope)

    def condition(self, raw: Mapping[str, Any], here: Path, scope: Scope) -> Any:
        cond, where, sid = raw.get("condition"), (*here, "condition"), raw.get("id")
        if not isinstance(cond, Mapping) or not isinstance(cond.get("field"), str):
            self.problem(where, f"{sid}.condition", "a condition needs 'field', 'operator' and 'value'",
                         "write condition: {field: test_results, operator: contains, value: passed}")
            return False
        op = cond.get("operator")
        if op not in OPERATORS:
            self.problem((*where, "operator") if "operator" in cond else where, f"{sid}.condition.operator",
                         f"unknown condition operator {op!r}", did_you_mean(str(op), OPERATORS) or
                         "operators: " + ", ".join(OPERATORS))
            return False
        if op != "not_empty" and "value" not in cond:
            self.problem(where, f"{sid}.condition.value", f"the operator '{op}' needs a 'value' to compare with")
            return False
        return condition(cond["field"], op, cond.get("value"), scope)

    def failure(self, native: dict[str, Any], raw: Mapping[str, Any], here: Path, at: Path) -> None:
        mode, sid = raw.get("on_failure", "abort"), raw.get("id")
        if mode not in ON_FAILURE:
            self.problem((*here, "on_failure"), f"{sid}.on_failure", f"unknown on_failure {mode!r}",
                         did_you_mean(str(mode), ON_FAILURE) or "on_failure: " + ", ".join(ON_FAILURE))
            return
        if mode == "fallback":
            fallback = raw.get("fallback")
            if not isinstance(fallback, Mapping) or fallback.get("type", "default_value") != "default_value":
                self.problem((*here, "on_failure"), f"{sid}.on_failure", "only a fallback of type default_value "
                             "is supported", "write fallback: {type: default_value, value: ...}")
                return
            native["default"] = fallback.get("value")
        elif mode == "continue_with_default":  # Gorgon's result became default_output
            given = raw.get("default_output") or {}
            first = (raw.get("outputs") or [None])[0]
            if raw.get("type") == "shell" or not isinstance(given, Mapping):
                native["default"] = given  # a shell step's output is its result too
            else:
                native["default"] = given.get(first, given.get("response"))
        if ON_FAILURE[mode] != "fail":
            native["on_failure"] = ON_FAILURE[mode]
            self.link((*at, "on_failure"), (*here, "on_failure"))
        retries = raw.get("max_retries", GORGON_RETRIES)
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            self.problem((*here, "max_retries"), f"{sid}.max_retries", "max_retries must be a whole number, 0 or more")
        elif retries and raw.get("type") not in ("checkpoint", "approval"):  # a person's no is not retried
            native["retry"] = {"attempts": min(retries + 1, 20), "backoff": 1.0}
            self.link((*at, "retry"), (*here, "max_retries") if "max_retries" in raw else here)

    def publish(self, raw: Mapping[str, Any], sid: str, scope: Scope) -> None:
        """Gorgon's ``_store_step_outputs``: the first name takes the text, a result key's name that key."""
        outputs = raw.get("outputs") or []
        keys = _RESULT_KEYS.get(raw.get("type", ""), ())
        shell = raw.get("type") == "shell"
        for i, name in enumerate(outputs if isinstance(outputs, list) else []):
            if not isinstance(name, str):
                continue
            key = name if name in keys else (keys[0] if i == 0 and keys else None)
            if key is None:
                continue  # Gorgon left it unset: ${name} stays as written
            if shell or key == "approved":  # a part of the result; none when the step was skipped
                scope.names[name] = f"(steps.{sid}.output or {{}}).get({literal(key)})"
            elif key == "map_results":
                scope.names[name] = f"steps.{sid}_map.output"
            else:
                scope.names[name] = f"steps.{sid}.output"

    # -- the kind of one step ------------------------------------------------------------------

    def kind(self, raw: Mapping[str, Any], here: Path, scope: Scope) -> dict[str, Any]:
        kind, params = raw.get("type"), raw.get("params") or {}
        at_params, sid = (*here, "params"), raw.get("id", "the step")

        def text(key: str, *, shell: bool = False, required: bool = True) -> str:
            value = params.get(key)
            if value is None and required:
                self.problem(at_params, f"{sid}.{key}", f"a {kind} step needs '{key}' in its params")
            return substitute(str(value or ""), scope, shell=shell)

        if kind in ("claude_code", "openai"):
            return self.model_step(kind, params, at_params, sid, text("prompt"), scope)
        if kind == "shell":
            out: dict[str, Any] = {"shell": text("command", shell=True), "capture": "all"}
            if params.get("allow_failure") is True:
                out["allow_failure"] = True
            return out
        if kind == "checkpoint":
            return {"checkpoint": text("message", required=False) or sid}
        if kind == "approval":
            sources = params.get("preview_from") or []
            preview = "\n\n".join(f"{{{{ steps.{s}.output }}}}" for s in sources if s in self.ids)
            return {"approval": text("prompt"), "preview": preview}
        if kind == "mcp_tool":
            server, tool = params.get("server"), params.get("tool")
            if not isinstance(server, str) or not isinstance(tool, str):
                self.problem(at_params, f"{sid}.params", "an mcp_tool step needs 'server' and 'tool'")
            return {"mcp": f"{server}/{tool}", "with": substitute_all(params.get("arguments") or {}, scope)}
        if kind != "fan_in":  # parallel, fan_out or map_reduce where only one step can stand
            self.problem((*here, "type"), f"{sid}.type", f"a {kind} step cannot stand here",
                         "a fan_out's step_template or a map_reduce's map_step is one step: " + ", ".join(ITEM_TYPES))
            return {}
        items = _items_expression(params.get("input"), scope)
        joined = f"{items} | join({literal(params.get('separator', chr(10)))})"
        if params.get("aggregation", "concat") == "concat":
            return {"python": "builtins:str", "args": {"object": "{{ " + joined + " }}"}}
        prompt = substitute(str(params.get("aggregate_prompt") or "${items}"),
                            scope.with_names(items=f"{items} | join({literal(SEPARATOR)})"))
        aggregation = params.get("aggregation")
        if aggregation not in ("claude_code", "openai"):
            self.problem((*at_params, "aggregation"), f"{sid}.aggregation",
                         f"unknown aggregation {aggregation!r}", "aggregation: concat, claude_code or openai")
        gathered = {**params, "role": params.get("role", "analyst")}
        return self.model_step(str(aggregation), gathered, at_params, sid, prompt, scope)

    def model_step(self, kind: str, params: Mapping[str, Any], at: Path, sid: str, prompt: str,
                   scope: Scope) -> dict[str, Any]:
        out: dict[str, Any]
        system = params.get("system_prompt")
        if kind == "openai" or system:
            out = {"llm": prompt}
            if system:
                out["system"] = substitute(str(system), scope)
        else:
            role = str(params.get("role", "builder"))  # Gorgon's default role
            out = {"agent": ROLES.get(role, role), "task": prompt}
            if role in WRITING_ROLES:
                out["tools"] = ["files", "shell"] if self.has_shell else ["files"]
        model = params.get("model")
        if model is not None:
            ref = model_ref(model, kind)
            if ref is None:
                self.problem((*at, "model"), f"{sid}.model", f"model must be a model name, not {model!r}")
            out["model"] = ref
        for key in ("max_tokens", "temperature"):
            if params.get(key) is not None:
                out[key] = params[key]
        return out


def _items_expression(source: Any, scope: Scope) -> str:
    """Gorgon's fan_in ``input``: ``${name}`` of the context (none there: no items), or the value itself."""
    if isinstance(source, str) and source.startswith("${") and source.endswith("}"):
        text = substitute(source, scope)
        return text[2:-2].strip() if text.startswith("{{") else "[]"
    return literal(source if isinstance(source, list) else [source])


def _params(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    params = raw.get("params")
    return params if isinstance(params, Mapping) else {}


def _uses_shell(steps: list[Any]) -> bool:
    for raw in steps:
        if not isinstance(raw, Mapping):
            continue
        params = _params(raw)
        nested = [params.get(k) for k in ("step_template", "map_step", "reduce_step")]
        if raw.get("type") == "shell" or _uses_shell([*nested, *(params.get("steps") or [])]):
            return True
    return False


def _ids(steps: list[Any]) -> list[str]:
    found: list[str] = []
    for raw in steps:
        if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
            found.append(raw["id"])
            params = _params(raw)
            if raw.get("type") == "parallel" and isinstance(params.get("steps"), list):
                found.extend(_ids(params["steps"]))
    return found


def _closure(sub: Mapping[str, Any], subs: list[Any]) -> list[str]:
    """The ids of the sibling steps ``sub`` waits for, directly or not."""
    by_id = {s.get("id"): s for s in subs if isinstance(s, Mapping)}
    pending, seen = list(_deps(sub)), []
    while pending:
        dep = pending.pop()
        if dep in by_id and dep not in seen:
            seen.append(dep)
            pending.extend(_deps(by_id[dep]))
    return seen


def _deps(raw: Mapping[str, Any]) -> list[str]:
    deps = raw.get("depends_on", [])
    return [deps] if isinstance(deps, str) else [d for d in deps if isinstance(d, str)] if isinstance(deps, list) \
        else []
