"""Workflows in Gorgon's JSON shape, converted to the native format before validation.

Gorgon stored a workflow as ``{id, name, description, variables, steps: [{id, type,
action, params, next_step}]}``; its examples also spell these ``workflow_id``,
``step_id``, ``step_type`` and ``parameters``. Both load. ``convert`` is pure: data in,
native data out, plus a ``SourceText`` whose locations send each native path (such as
``("steps", 1, "task")``) to the JSON line it came from (``("steps", 1, "params", "task")``).

Top level: ``id|workflow_id``, ``name``, ``description`` and ``version`` are kept; other
keys are ignored, as Gorgon ignored them. Each variable becomes an optional input with
the variable's value as its default and a type taken from that value; placeholders in a
default are rewritten too, so ``"{{current_date}}"`` becomes ``"{{ today() }}"``.

Order: Gorgon ran ``steps[0]``, then followed ``next_step`` until it was null. That
chain becomes ``depends_on`` (each step on the one before it), so side effects happen in
the same order; steps off the chain get ``when: false`` and never run. When no step has a
``next_step`` key, the steps run in list order. A ``next_step`` naming no step, or one
leading back into the chain (Gorgon would loop forever), is an error.

Steps::

    claude_code/execute_agent        agent: ROLE; task (or prompt), context, model, max_tokens
    claude_code/generate_completion  llm: PROMPT; system (system_prompt, else Gorgon's
                                     "You are a helpful assistant."), model, max_tokens
    openai/generate_completion       llm: PROMPT; system (system_prompt), temperature,
                                     max_tokens, model
    openai/summarize                 llm: Gorgon's summary prompt around text, its system prompt
    openai/generate_sop              llm: Gorgon's SOP prompt around task_description,
                                     its system prompt
    transform/extract                python: gorgon_nb.functions:extract
                                     args {value: the context entry named by source, key}
    transform/format                 python: gorgon_nb.functions:format_text
                                     args {template, values: every variable and every
                                     earlier <step>_output}
    github|notion|slack|gmail/ACTION TYPE: the native action (INTEGRATIONS), with: the params,
                                     renamed where the native action names them otherwise
                                     (repo_name -> repo, parent_id -> database_id,
                                     max_results -> limit, message_id -> id, ...)
    slack/send_message               post_message; message_type becomes Gorgon's emoji prefix
    slack/send_notification          post_message of "<emoji> **workflow_name**: status" + details
    transform/aggregate              python: gorgon_nb.functions:aggregate over the sources; each
                                     github source read first by a github: repository_activity
                                     step (ID_N_github); a source of another type is kept as
                                     unavailable (gorgon-nb has no integration to read it)
    notification/send                notify: CHANNEL (a notification target, or slack / email /
                                     webhook: the one target of that kind), with title, message

Gmail's ``list_messages`` returns each message's headers and snippet (Gorgon's returned
only ids), so a summary step downstream has the mail to read. Integration steps behave
natively, so their writes wait for a person's approval (Gorgon ran them unasked).

A model such as ``gpt-4o-mini`` or ``claude-sonnet-4-20250514`` becomes
``openai:gpt-4o-mini`` / ``anthropic:claude-sonnet-4-20250514``. Where Gorgon had a
default model or temperature and the file names none, the native defaults apply. The
params Gorgon passed on as keyword arguments (so that an unknown one failed the step)
are checked here. Strings in params are rewritten by ``gorgon_params``.

Agent outputs: Gorgon's ``claude_code`` actions returned ``{success, output, role}``, and
``{{plan_output}}`` passed that whole dict on. Natively an agent's output is its text, so
``{{plan_output}}`` (and ``{{plan_output.output}}``) is the text: what every bundled
Gorgon workflow meant when it handed one agent's output to the next as context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gorgon_nb.errors import did_you_mean
from gorgon_nb.model.gorgon_params import (
    FIXED_PROMPTS,
    Names,
    extract_args,
    fixed_prompt,
    format_args,
    model_ref,
    rewrite,
    rewrite_all,
)
from gorgon_nb.model.source import Conversion, Locations, Path, SourceText

__all__ = ["INTEGRATIONS", "SUPPORTED", "convert", "is_gorgon_json"]

FUNCTIONS = "gorgon_nb.functions"
# Gorgon's action -> (the native action, {Gorgon param: native param}, native params added).
INTEGRATIONS: dict[str, dict[str, tuple[str, dict[str, str], dict[str, Any]]]] = {
    "github": {
        "create_issue": ("create_issue", {"repo_name": "repo"}, {}),
        "commit_file": ("commit_file", {"repo_name": "repo", "file_path": "path"}, {}),
        "list_repositories": ("list_repositories", {}, {"limit": 20}),
    },
    "notion": {
        "create_page": ("create_page", {"parent_id": "database_id"}, {}),
        "create_database_entry": ("create_page", {}, {}),
        "append_to_page": ("append_blocks", {}, {}),
        "search_pages": ("search", {}, {}),
        "query_database": ("query_database", {"page_size": "limit"}, {}),
        "get_database_schema": ("get_database_schema", {}, {}),
        "get_page": ("get_page", {}, {}),
        "read_page_content": ("read_page", {}, {}),
        "update_page": ("update_page", {}, {}),
        "archive_page": ("archive_page", {}, {}),
        "update_block": ("update_block", {}, {}),
        "delete_block": ("delete_block", {}, {}),
    },
    "slack": {
        "send_message": ("post_message", {}, {}),
        "send_notification": ("post_message", {}, {}),
        "send_approval": ("request_approval", {}, {}),
        "update_message": ("update_message", {}, {}),
        "add_reaction": ("add_reaction", {}, {}),
    },
    "gmail": {
        "list_messages": ("list_messages", {"max_results": "limit"}, {}),
        "get_message": ("get_message", {"message_id": "id"}, {}),
    },
}
# Gorgon's Slack emojis by message type and by workflow status
_SLACK_EMOJI = {"info": ":information_source:", "success": ":white_check_mark:", "warning": ":warning:",
                "error": ":x:", "approval": ":raised_hand:", "started": ":rocket:", "completed": ":white_check_mark:",
                "failed": ":x:", "pending_approval": ":raised_hand:"}
SUPPORTED: dict[str, tuple[str, ...]] = {
    "claude_code": ("execute_agent", "generate_completion"),
    "openai": ("generate_completion", "summarize", "generate_sop"),
    "transform": ("extract", "format", "aggregate"),
    "notification": ("send",),
    **{service: tuple(found) for service, found in INTEGRATIONS.items()},
}
CLAUDE_SYSTEM = "You are a helpful assistant."  # ClaudeCodeClient.generate_completion's default

# Native field and the Gorgon param it comes from, for the actions that call a model.
_AGENT = {
    "agent": "role",
    "task": "task",
    "context": "context",
    "model": "model",
    "max_tokens": "max_tokens",
}
_CLAUDE_LLM = {  # ClaudeCodeClient.generate_completion takes no temperature
    "llm": "prompt",
    "system": "system_prompt",
    "model": "model",
    "max_tokens": "max_tokens",
}
_OPENAI_LLM = {**_CLAUDE_LLM, "temperature": "temperature"}
_TEXT_FIELDS = ("task", "context", "llm", "system")
_SPELLINGS = {
    "id": ("id", "step_id"),
    "type": ("type", "step_type"),
    "params": ("params", "parameters"),
}


def is_gorgon_json(data: Mapping[str, Any]) -> bool:
    """True for Gorgon's shape: ``workflow_id`` or ``variables``, or steps with type + action."""
    if not isinstance(data, Mapping):
        return False
    if "workflow_id" in data or "variables" in data:
        return True
    steps = data.get("steps")
    return isinstance(steps, list) and any(
        isinstance(s, Mapping) and ("type" in s or "step_type" in s) and "action" in s
        for s in steps
    )


def convert(
    data: Mapping[str, Any], source: SourceText | None
) -> tuple[dict[str, Any], SourceText | None]:
    """The native workflow for Gorgon ``data``; raise ``WorkflowError`` listing every problem."""
    converter = _Converter(data, source)
    native = converter.run()
    if source is None:
        return native, None
    locations = Locations(converter.lines)
    return native, SourceText(source.text, source.format, source.path, locations)


@dataclass
class _Step:
    index: int
    id: str
    type: str
    action: str
    params: Mapping[str, Any]
    keys: dict[str, str]  # the spelling of id / type / params this step used
    next: Any
    has_next: bool

    @property
    def here(self) -> Path:
        return ("steps", self.index)

    @property
    def at_params(self) -> Path:
        return ("steps", self.index, self.keys["params"])


def _input_type(value: Any) -> str:
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list"}
    return kinds.get(type(value)) or ("object" if isinstance(value, dict) else "any")


class _Converter(Conversion):
    def __init__(self, data: Mapping[str, Any], source: SourceText | None) -> None:
        super().__init__(data, source)
        # Steps a Gorgon step needs before it (an aggregate's reads) with where each comes from.
        # They go after Gorgon's steps, so each Gorgon step keeps its index; dependencies order them.
        self.before: list[tuple[dict[str, Any], Path]] = []
        self.extra: list[tuple[dict[str, Any], Path]] = []

    def bad(self, s: _Step, where: Path, message: str, hint: str = "") -> None:
        """A problem with step ``s`` at ``where``, a path inside it."""
        self.problem(where, f"{s.id}.{where[-1]}", message, hint)

    def run(self) -> dict[str, Any]:
        data, out = self.data, {}
        for native in ("id", "name", "description", "version"):
            key = "workflow_id" if native == "id" and "id" not in data else native
            if key in data:
                out[native] = data[key]
                self.link((native,), (key,))
        variables = data.get("variables") or {}
        if not isinstance(variables, Mapping):
            self.problem(("variables",), "variables", "'variables' must map names to values")
            variables = {}
        raw_steps = data.get("steps", [])
        if not isinstance(raw_steps, list):
            self.problem(("steps",), "steps", "'steps' must be a list of steps")
            raw_steps = []
        steps = [step for i, raw in enumerate(raw_steps) if (step := self.read_step(i, raw))]
        self.check()
        ids = frozenset(s.id for s in steps)
        agents = frozenset(s.id for s in steps if s.type == "claude_code")
        names = Names(frozenset(variables), ids, agents)
        out["inputs"] = {name: self.input(name, value, names) for name, value in variables.items()}
        self.link(("inputs",), ("variables",), deep=False)
        chain = self.chain(steps)
        self.check()
        position = {index: k for k, index in enumerate(chain)}
        out["steps"] = []
        for step in steps:
            k = position.get(step.index)
            earlier = [steps[i].id for i in chain[:k]] if k is not None else []
            previous = steps[chain[k - 1]] if k else None
            made = self.step(step, names, list(variables), earlier, previous, k is not None)
            for extra, _ in self.before:  # a read runs when, and after what, its step would
                extra.update({key: made[key] for key in ("depends_on", "when") if key in made})
            self.extra += self.before
            self.before = []
            out["steps"].append(made)
        for extra, where in self.extra:
            self.link(("steps", len(out["steps"])), where)
            out["steps"].append(extra)
        self.check()
        self.link(("steps",), ("steps",), deep=False)
        return out

    def read_step(self, index: int, raw: Any) -> _Step | None:
        here: Path = ("steps", index)
        if not isinstance(raw, Mapping):
            self.problem(here, f"steps[{index}]", "a step must be a mapping with id, type, action")
            return None
        keys = {name: next((k for k in ks if k in raw), ks[0]) for name, ks in _SPELLINGS.items()}
        label = raw[keys["id"]] if isinstance(raw.get(keys["id"]), str) else f"steps[{index}]"
        known = len(self.problems)
        for key in (keys["id"], keys["type"], "action"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                where = (*here, key) if key in raw else here
                self.problem(
                    where,
                    f"{label}.{key}",
                    f"the step needs '{key}' (a string)",
                    'a Gorgon step is {"id": ..., "type": ..., "action": ..., "params": {}}',
                )
        params = raw.get(keys["params"]) or {}
        if not isinstance(params, Mapping):
            self.problem((*here, keys["params"]), f"{label}.{keys['params']}", "must be a mapping")
        if len(self.problems) > known:
            return None
        return _Step(
            index,
            raw[keys["id"]],
            raw[keys["type"]],
            raw["action"],
            params,
            keys,
            raw.get("next_step"),
            "next_step" in raw,
        )

    def input(self, name: str, value: Any, names: Names) -> dict[str, Any]:
        default = rewrite(value, names) if isinstance(value, str) else value
        self.link(("inputs", name), ("variables", name), deep=False)
        self.link(("inputs", name, "type"), ("variables", name), deep=False)
        self.link(("inputs", name, "default"), ("variables", name))
        return {"type": _input_type(value), "required": False, "default": default}

    def chain(self, steps: list[_Step]) -> list[int]:
        """Indexes of the steps Gorgon would run, in order."""
        if not any(s.has_next for s in steps):
            return [s.index for s in steps]
        first: dict[str, int] = {}
        for s in steps:
            first.setdefault(s.id, s.index)
        for s in steps:
            if s.next and (not isinstance(s.next, str) or s.next not in first):
                hint = did_you_mean(str(s.next), first) or "use a step id, or null to end the run"
                self.bad(s, (*s.here, "next_step"), f"next_step {s.next!r} names no step", hint)
        order = [steps[0].index]
        while (target := steps[order[-1]].next) and isinstance(target, str) and target in first:
            if first[target] in order:
                loop = [steps[i].id for i in order[order.index(first[target]) :]] + [target]
                last = steps[order[-1]]
                self.bad(
                    last,
                    (*last.here, "next_step"),
                    f"next_step '{target}' leads back to an earlier step: " + " -> ".join(loop),
                    "Gorgon would run these steps forever; end the chain with null, "
                    "or write a native loop step with an 'until' condition",
                )
                break
            order.append(first[target])
        return order

    def step(
        self,
        s: _Step,
        names: Names,
        variables: list[str],
        earlier: list[str],
        previous: _Step | None,
        reachable: bool,
    ) -> dict[str, Any]:
        self.link(s.here, s.here, deep=False)
        self.link((*s.here, "id"), (*s.here, s.keys["id"]))
        out: dict[str, Any] = {"id": s.id, **self.kind(s, names, variables, earlier)}
        if previous is not None:  # the edge Gorgon took: the step before's next_step
            out["depends_on"] = [previous.id]
            for native in ((*s.here, "depends_on"), (*s.here, "depends_on", 0)):
                self.link(native, (*previous.here, "next_step"), deep=False)
        if not reachable:
            out["when"] = False
            self.link((*s.here, "when"), s.here, deep=False)
        return out

    def kind(
        self, s: _Step, names: Names, variables: list[str], earlier: list[str]
    ) -> dict[str, Any]:
        if s.type not in SUPPORTED:
            supported = "supported types: " + ", ".join(sorted(SUPPORTED))
            self.bad(s, (*s.here, s.keys["type"]), f"unsupported step type '{s.type}'", supported)
            return {}
        if s.action not in SUPPORTED[s.type]:
            supported = f"supported {s.type} actions: " + ", ".join(SUPPORTED[s.type])
            message = f"unsupported action '{s.action}' for step type '{s.type}'"
            self.bad(s, (*s.here, "action"), message, supported)
            return {}
        if s.type in INTEGRATIONS:
            return self.integration(s, names)
        if s.type == "transform":
            return self.transform(s, names, variables, earlier)
        if s.type == "notification":
            return self.notification(s, names)
        if s.action in FIXED_PROMPTS:
            param = FIXED_PROMPTS[s.action][0]
            where = (*s.at_params, param) if param in s.params else (*s.here, "action")
            self.link((*s.here, "llm"), where)
            return fixed_prompt(s.action, s.params, names)
        if s.action == "execute_agent":
            return self.model_call(s, _AGENT, ("role", "task"), names)
        fields = _OPENAI_LLM if s.type == "openai" else _CLAUDE_LLM
        out = self.model_call(s, fields, ("prompt",), names)
        return out if s.type == "openai" else {**out, "system": out.get("system", CLAUDE_SYSTEM)}

    def integration(self, s: _Step, names: Names) -> dict[str, Any]:
        action, renamed, added = INTEGRATIONS[s.type][s.action]
        self.link((*s.here, s.type), (*s.here, "action"), deep=False)
        self.link((*s.here, "with"), s.at_params, deep=False)
        params: dict[str, Any] = dict(added)
        for key, value in s.params.items():
            native = renamed.get(key, key)
            params[native] = rewrite_all(value, names)
            self.link((*s.here, "with", native), (*s.at_params, key))
        if s.type == "slack" and s.action in ("send_message", "send_notification"):
            params = _slack_text(s.action, params)
        return {s.type: action, "with": params}

    def model_call(
        self, s: _Step, fields: dict[str, str], required: tuple[str, ...], names: Names
    ) -> dict[str, Any]:
        params, keys = dict(s.params), {key: key for key in s.params}
        if fields is _AGENT and "task" not in params and "prompt" in params:
            params["task"], keys["task"] = params.pop("prompt"), "prompt"  # the examples' spelling
        accepted = list(fields.values())
        for key in params:
            if key not in accepted:
                message = f"unknown param '{keys[key]}' for {s.type}/{s.action}"
                self.bad(s, (*s.at_params, keys[key]), message, did_you_mean(key, accepted))
        for param in required:
            if param not in params:
                self.bad(s, s.at_params, f"missing param '{param}' for {s.type}/{s.action}")
        out: dict[str, Any] = {}
        for native, param in fields.items():
            if param not in params:
                continue
            value, where = params[param], (*s.at_params, keys[param])
            if native in _TEXT_FIELDS and isinstance(value, str):
                value = rewrite(value, names)
            elif native == "model" and (value := model_ref(value, s.type)) is None:
                hint = "models are not templated; name one (gpt-4o-mini) or leave it out"
                self.bad(s, where, f"model must be a model name, not {params[param]!r}", hint)
            out[native] = value
            self.link((*s.here, native), where)
        return out

    def aggregate(self, s: _Step, names: Names) -> dict[str, Any]:
        """``python: functions:aggregate`` over the sources, each GitHub source read by a step before it."""
        self.link((*s.here, "python"), (*s.here, "action"), deep=False)
        self.link((*s.here, "args"), s.at_params, deep=False)
        sources = s.params.get("sources", [])
        if not isinstance(sources, list) or not all(isinstance(x, Mapping) and "type" in x for x in sources):
            self.bad(s, (*s.at_params, "sources"), "sources must be a list of {type: ..., ...} mappings",
                     'for example [{"type": "github", "repo": "org/repo", "metrics": ["commits"]}]')
            return {}
        args = []
        for number, source in enumerate(sources, start=1):
            entry = {key: rewrite_all(value, names) for key, value in source.items()}
            if (read := _aggregate_read(s.id, number, source, names)) is not None:
                self.before.append((read, (*s.at_params, "sources", number - 1)))
                entry["data"] = "{{ steps." + read["id"] + ".output }}"
            args.append(entry)
        return {"python": f"{FUNCTIONS}:aggregate", "args": {"sources": args}}

    def notification(self, s: _Step, names: Names) -> dict[str, Any]:
        """``notify: CHANNEL`` with the title and message: a configured target, or the one of a kind."""
        params = dict(s.params)
        if not isinstance(params.get("channel"), str) or not params["channel"]:
            self.bad(s, s.at_params, "missing param 'channel' for notification/send",
                     "name a notification target of config.toml, or slack, email or webhook")
            return {}
        for key in params:
            if key not in ("channel", "title", "message"):
                self.bad(s, (*s.at_params, key), f"unknown param '{key}' for notification/send",
                         did_you_mean(key, ["channel", "title", "message"]))
        self.link((*s.here, "notify"), (*s.at_params, "channel"))
        self.link((*s.here, "with"), s.at_params, deep=False)
        out: dict[str, Any] = {}
        for key in ("title", "message"):
            if key in params:
                out[key] = rewrite_all(params[key], names)
                self.link((*s.here, "with", key), (*s.at_params, key))
        return {"notify": rewrite(params["channel"], names), "with": out}

    def transform(
        self, s: _Step, names: Names, variables: list[str], earlier: list[str]
    ) -> dict[str, Any]:
        self.link((*s.here, "python"), (*s.here, "action"), deep=False)
        self.link((*s.here, "args"), s.at_params, deep=False)
        if s.action == "aggregate":
            return self.aggregate(s, names)
        if s.action == "extract":
            self.link((*s.here, "args", "value"), (*s.at_params, "source"))
            self.link((*s.here, "args", "key"), (*s.at_params, "key"))
            args = extract_args(s.params.get("source"), s.params.get("key", ""), names)
            if args is None:
                message = f"source {s.params.get('source')!r} is not a variable or step output"
                hint = 'write the name of one, for example "fetch_output"'
                self.bad(s, (*s.at_params, "source"), message, hint)
            return {"python": f"{FUNCTIONS}:extract", "args": args}
        template = s.params.get("template", "")
        if not isinstance(template, str):
            self.bad(s, (*s.at_params, "template"), "template must be a string")
            template = ""
        self.link((*s.here, "args", "template"), (*s.at_params, "template"))
        self.link((*s.here, "args", "values"), (*s.here, "action"), deep=False)
        args = format_args(template, names, variables, earlier)
        return {"python": f"{FUNCTIONS}:format_text", "args": args}


def _aggregate_read(step_id: str, number: int, source: Mapping[str, Any], names: Names) -> dict[str, Any] | None:
    """The native step reading a source of Gorgon's ``aggregate`` (None for a kind without an integration)."""
    if source.get("type") != "github":
        return None
    params = {"repo": rewrite_all(source.get("repo", ""), names)}
    if "metrics" in source:
        params["metrics"] = rewrite_all(source["metrics"], names)
    return {"id": f"{step_id}_{number}_github", "github": "repository_activity", "with": params}


def _slack_text(action: str, params: dict[str, Any]) -> dict[str, Any]:
    """Gorgon's message (type emoji + text) or notification (emoji, workflow, status, details) as one text."""
    params = dict(params)
    if action == "send_message":
        emoji = _SLACK_EMOJI.get(str(params.pop("message_type", "info")), _SLACK_EMOJI["info"])
        params["text"] = f"{emoji} {params.get('text', '')}"
        return params
    status = str(params.pop("status", ""))
    details = params.pop("details", None)
    text = f"{_SLACK_EMOJI.get(status, _SLACK_EMOJI['info'])} **{params.pop('workflow_name', '')}**: {status}"
    params["text"] = text + (f"\n\n{details}" if details else "")
    return params
