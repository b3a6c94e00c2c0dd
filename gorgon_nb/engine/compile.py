"""Compile a parsed workflow into a checked graph before any step runs.

``compile_workflow`` collects every problem it finds (unknown references, cycles,
unknown roles and models, disabled shell steps, missing notebooks, template syntax) into
one ``WorkflowError``, each pinned to a file, line and field with a hint.
"""

from __future__ import annotations

import hashlib
import pathlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gorgon_nb.engine.templating import (
    JINJA_GLOBALS,
    Expression,
    References,
    Template,
    TemplateError,
    compile_expression,
    compile_template,
)
from gorgon_nb.engine.trust import CELL, CodeUse
from gorgon_nb.errors import Problem, WorkflowError, did_you_mean
from gorgon_nb.model.kinds import all_kinds, body_of, kind_of
from gorgon_nb.model.limits import FOR_EACH_ITEMS, RUN_STEPS
from gorgon_nb.model.source import Path, SourceText
from gorgon_nb.model.workflow import ApprovalPolicy, ModelOptions, StepBase, WorkflowSpec

__all__ = ["CompiledWorkflow", "Graph", "KindChecks", "Node", "compile_workflow", "missing_config"]

ModelCheck = Callable[[str], str | None]


@dataclass
class Node:
    """One step in the graph, its templates compiled and its dependencies known."""

    step: StepBase
    path: Path
    deps: tuple[str, ...] = ()
    templates: dict[str, Any] = field(default_factory=dict)  # the kind's templated fields, compiled
    when: Expression | None = None
    for_each: Expression | None = None
    expressions: dict[str, Expression] = field(default_factory=dict)  # the kind's conditions (until)
    body: Graph | None = None  # the steps it holds (a loop's body)

    @property
    def id(self) -> str:
        return self.step.id


@dataclass
class Graph:
    """Nodes in a topological order, with the reverse edges the executor walks."""

    nodes: dict[str, Node]
    dependants: dict[str, tuple[str, ...]]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())


@dataclass
class CompiledWorkflow:
    spec: WorkflowSpec
    graph: Graph
    source: SourceText | None
    content_hash: str
    outputs: dict[str, Any] | None = None
    # steps that run code or reach outside the folder: the caller must allow code (see trust.py)
    code_uses: tuple[CodeUse, ...] = ()
    bundled: bool = False  # one of gorgon-nb's own workflows: its folder is inside the package

    @property
    def all_nodes(self) -> Iterator[Node]:
        def walk(graph: Graph) -> Iterator[Node]:
            for node in graph:
                yield node
                if node.body is not None:
                    yield from walk(node.body)

        return walk(self.graph)


class KindChecks:
    """What a kind's compile-time check sees of the workflow: the roles, the file's folder,
    and where to report a problem of the step (a field path under the step, as in the file)."""

    def __init__(self, compiler: _Compiler, step_id: str, path: Path) -> None:
        self._compiler = compiler
        self._step_id = step_id
        self._path = path
        self.roles = compiler.roles
        self.base_dir = compiler.base_dir or pathlib.Path.cwd()  # where the run will look

    def problem(self, where: tuple[str | int, ...], message: str, hint: str = "") -> None:
        label = ".".join([self._step_id, *(str(part) for part in where if isinstance(part, str))])
        self._compiler.problem((*self._path, *where), label, message, hint)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Compiler:
    def __init__(
        self,
        spec: WorkflowSpec,
        source: SourceText | None,
        roles: Collection[str],
        check_model: ModelCheck | None,
        base_dir: pathlib.Path | None = None,
        trusted: bool = False,
    ) -> None:
        self.spec = spec
        self.base_dir = base_dir
        # the file's consent to run code: its own allow_code (a file of gorgon-nb's own needs none)
        self.trusted = trusted
        self.allows_code = spec.allow_code or spec.allow_shell
        self.cell = source is not None and source.path == CELL
        self.code_uses: list[CodeUse] = []
        self.source = source
        self.roles = roles
        self.check_model = check_model
        self.problems: list[Problem] = []
        self.scope: dict[str, Path] = {}  # every step id in the workflow -> its path
        self.loop_of: dict[str, str] = {}  # body step id -> the loop step that holds it
        self.body_names: dict[str, frozenset[str]] = {}  # loop step id -> the names its body may use

    def problem(self, path: Path, field_name: str, message: str, hint: str = "") -> None:
        line = self.source.locations.line_of(path) if self.source else None
        file = self.source.path if self.source else None
        self.problems.append(Problem(message, field_name, hint, file, line))

    # -- the pass over all steps -------------------------------------------------------------

    def compile(self) -> CompiledWorkflow:
        self._collect_ids(self.spec.steps, ("steps",), None)
        graph = self._graph(self.spec.steps, ("steps",), loop_id=None)
        self._check_size(self.spec.steps, ("steps",))
        outputs = None
        if self.spec.outputs is not None:
            outputs = self._templates(self.spec.outputs, ("outputs",), "outputs", set(), None)[0]
        if self.problems:
            raise WorkflowError(sorted(self.problems, key=lambda p: (p.line or 0, p.field)))
        text = self.source.text if self.source else self.spec.model_dump_json(by_alias=True)
        return CompiledWorkflow(self.spec, graph, self.source, content_hash(text), outputs, tuple(self.code_uses),
                                bundled=self.trusted)

    def _check_size(self, steps: list[StepBase], path: Path) -> None:
        """The most steps the workflow can run, bodies' rounds multiplied out, within the limit."""
        limit = RUN_STEPS.get()
        total = 0
        for index, step in enumerate(steps):
            count = _most_steps(step)
            body = body_of(step)
            if body is not None and count > limit:
                each = (count - 1) // body.rounds
                self.problem((*path, index, body.rounds_field), f"{step.id}.{body.rounds_field}", RUN_STEPS.exceeded(
                    f"{step.kind} '{step.id}' can run {count:,} steps ({body.rounds} rounds of up to {each:,})"),
                    f"lower {body.rounds_field} here or in the loops inside, or {RUN_STEPS.how_to_raise}")
                return
            total += count
        if total > limit:
            self.problem(path, "steps", RUN_STEPS.exceeded(f"the workflow can run {total:,} steps"),
                         f"lower loops' max_rounds or for_each lists, or {RUN_STEPS.how_to_raise}")

    def _collect_ids(self, steps: list[StepBase], path: Path, loop_id: str | None) -> None:
        for index, step in enumerate(steps):
            here = (*path, index)
            if step.id in self.scope:
                self.problem((*here, "id"), f"{step.id}.id", f"duplicate step id '{step.id}'",
                             "step ids must be unique in the whole workflow, loop bodies included")
                continue
            self.scope[step.id] = here
            if loop_id is not None:
                self.loop_of[step.id] = loop_id
            if (body := body_of(step)) is not None:
                self.body_names[step.id] = kind_of(step).body_names
                self._collect_ids(body.steps, (*here, body.field), step.id)

    def _graph(self, steps: list[StepBase], path: Path, loop_id: str | None) -> Graph:
        local = {step.id for step in steps}
        nodes: dict[str, Node] = {}
        for index, step in enumerate(steps):
            if step.id in nodes:
                continue
            nodes[step.id] = self._node(step, (*path, index), local, loop_id)
        order = self._order(nodes)
        dependants: dict[str, list[str]] = {key: [] for key in order}
        for key in order:
            for dep in nodes[key].deps:
                dependants[dep].append(key)
        return Graph({key: nodes[key] for key in order}, {k: tuple(v) for k, v in dependants.items()})

    def _node(self, step: StepBase, path: Path, local: set[str], loop_id: str | None) -> Node:
        sid, kind = step.id, kind_of(step)
        extra_names = {step.as_} if step.for_each is not None else set()
        templates, refs = self._templates(kind.templates(step), path, sid, extra_names, loop_id)
        node = Node(step, path, templates=templates)
        node.when, when_refs = self._expression(step.when, (*path, "when"), f"{sid}.when", set(), loop_id)
        node.for_each, each_refs = self._expression(
            step.for_each, (*path, "for_each"), f"{sid}.for_each", set(), loop_id)
        if isinstance(step.for_each, list) and len(step.for_each) > FOR_EACH_ITEMS.get():
            self.problem((*path, "for_each"), f"{sid}.for_each",
                         FOR_EACH_ITEMS.exceeded(f"for_each lists {len(step.for_each):,} items"),
                         FOR_EACH_ITEMS.how_to_raise)
        refs = refs | when_refs | each_refs
        if kind.check is not None:
            kind.check(step, KindChecks(self, sid, path))
        if isinstance(step, ModelOptions) and self.check_model:
            for ref_field, ref in [("model", step.model), *(("fallback_models", m) for m in step.fallback_models)]:
                if ref and (message := self.check_model(ref)):
                    self.problem((*path, ref_field), f"{sid}.{ref_field}", message)
        if isinstance(step.approval, ApprovalPolicy):
            policy = step.approval
            for name in ("title", "preview"):
                value = getattr(policy, name)
                if value:
                    _, approval_refs = self._templates(value, (*path, "approval", name), f"{sid}.approval.{name}",
                                                       extra_names | {"output"}, loop_id)
                    refs = refs | approval_refs
            if policy.max_revisions and not (policy.mode == "after" and kind.revisable):
                self.problem((*path, "approval", "max_revisions"), f"{sid}.approval.max_revisions",
                             "only an agent or llm step approved 'after' can be sent back for revisions",
                             "remove max_revisions, or use mode: after on an agent or llm step")
        if step.schema_ is not None:
            self._check_schema(step.schema_, (*path, "schema"), f"{sid}.schema")
        does = kind.code_use(step, self.base_dir, self.cell) if kind.code_use and not self.trusted else None
        if does is not None:
            self.code_uses.append(CodeUse(f"{loop_id}.{sid}" if loop_id else sid, does))
            if not self.allows_code:
                self.problem((*path, step.kind), f"{sid}.{step.kind}",
                             f"this step {does}, which runs code on this machine, and the workflow does not allow code",
                             "if you trust this workflow, add 'allow_code: true' at its top, and allow code when you "
                             "run it (--allow-code; allow_code=True in Python)")
        body = body_of(step)
        if body is not None:
            node.body = self._graph(body.steps, (*path, body.field), sid)
        for name, value in kind.expressions(step).items():  # seen from inside the body, if any
            scope_id = sid if body is not None else loop_id
            expression, expression_refs = self._expression(value, (*path, name), f"{sid}.{name}", set(), scope_id)
            if expression is not None:
                node.expressions[name] = expression
            refs = refs | expression_refs
        if node.body is not None:
            body_ids = set(node.body.nodes)
            for inner in node.body:
                refs = refs | References(members=frozenset(self._outer_refs(inner, body_ids)))
        deps = set(step.depends_on)
        for dep in step.depends_on:
            if dep not in self.scope:
                self.problem((*path, "depends_on"), f"{sid}.depends_on", f"unknown step '{dep}'",
                             did_you_mean(dep, self.scope))
            elif dep not in local and (holder := self.loop_of.get(dep)) is not None and not self._inside(loop_id, holder):
                self.problem((*path, "depends_on"), f"{sid}.depends_on", f"step '{dep}' is inside loop '{holder}'",
                             f"depend on the loop step '{holder}' instead")
        for ref in refs.of("steps"):
            if ref == sid:
                self.problem(path, sid, f"step '{sid}' refers to its own output")
            elif ref in local:
                deps.add(ref)
        node.deps = tuple(sorted(d for d in deps if d in local and d != sid))
        return node

    def _check_schema(self, schema: dict[str, Any], path: Path, label: str) -> None:
        import jsonschema

        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "its top level"
            self.problem(path, label, f"not a valid JSON schema at {where}: {exc.message}",
                         "see https://json-schema.org/understanding-json-schema/ for the keywords")

    def _outer_refs(self, node: Node, body_ids: set[str]) -> set[tuple[str, str]]:
        """References from inside a loop body to steps outside it (the loop depends on them)."""
        found: set[tuple[str, str]] = set()
        refs = References()
        for value in node.templates.values():
            refs = refs | _refs_of(value)
        for expr in (node.when, node.for_each, *node.expressions.values()):
            if expr is not None:
                refs = refs | expr.refs
        found.update(("steps", ref) for ref in refs.of("steps") if ref not in body_ids)
        found.update(("steps", dep) for dep in node.step.depends_on if dep not in body_ids)
        if node.body is not None:
            for inner in node.body:
                found.update(self._outer_refs(inner, body_ids | set(node.body.nodes)))
        return found

    # -- templates and expressions -------------------------------------------------------------

    def _templates(self, value: Any, path: Path, label: str, extra: set[str], loop_id: str | None) -> tuple[Any, References]:
        if isinstance(value, str):
            try:
                template = compile_template(value)
            except TemplateError as exc:
                self.problem(path, label, str(exc))
                return Template(value), References()
            self._check_refs(template.refs, path, label, extra, loop_id)
            return template, template.refs
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            refs = References()
            for key, item in value.items():
                out[key], item_refs = self._templates(item, (*path, key), f"{label}.{key}", extra, loop_id)
                refs = refs | item_refs
            return out, refs
        if isinstance(value, list):
            items = [self._templates(item, (*path, i), f"{label}[{i}]", extra, loop_id) for i, item in enumerate(value)]
            refs = References()
            for _, item_refs in items:
                refs = refs | item_refs
            return [item for item, _ in items], refs
        return value, References()

    def _expression(self, value: Any, path: Path, label: str, extra: set[str], loop_id: str | None) -> tuple[Expression | None, References]:
        if not isinstance(value, str):
            return None, References()  # a literal bool or list needs no evaluation
        try:
            expr = compile_expression(value)
        except TemplateError as exc:
            self.problem(path, label, str(exc))
            return None, References()
        self._check_refs(expr.refs, path, label, extra, loop_id)
        return expr, expr.refs

    def _check_refs(self, refs: References, path: Path, label: str, extra: set[str], loop_id: str | None) -> None:
        known = {"inputs", "steps", *extra, *JINJA_GLOBALS}
        holder = loop_id
        while holder is not None:  # what the steps holding this one give their bodies (a loop's "loop")
            known |= self.body_names.get(holder, frozenset())
            holder = self.loop_of.get(holder)
        for name in sorted(refs.names - known):
            hint = ""
            if name in self.spec.inputs:
                hint = f"inputs are written inputs.{name}"
            elif name in self.scope:
                hint = f"step outputs are written steps.{name}.output"
            elif (holders := [k.key for k in all_kinds().values() if name in k.body_names]):
                hint = f"'{name}' is only defined inside the body of a {' or '.join(holders)} step"
            else:
                hint = "templates can use inputs.NAME, steps.ID.output" + (f", {', '.join(sorted(extra))}" if extra else "")
            self.problem(path, label, f"unknown name '{name}' in template", hint)
        for name in sorted(refs.of("inputs") - set(self.spec.inputs)):
            self.problem(path, label, f"unknown input '{name}'",
                         did_you_mean(name, self.spec.inputs) or f"declare it under 'inputs:' ({name}: {{type: string}})")
        for ref in sorted(refs.of("steps")):
            if ref not in self.scope:
                self.problem(path, label, f"unknown step '{ref}'", did_you_mean(ref, self.scope))
                continue
            holder = self.loop_of.get(ref)
            if holder is not None and not self._inside(loop_id, holder):
                self.problem(path, label, f"step '{ref}' is inside loop '{holder}'",
                             f"read its last round as steps.{holder}.output.{ref}")

    def _inside(self, loop_id: str | None, holder: str) -> bool:
        while loop_id is not None:
            if loop_id == holder:
                return True
            loop_id = self.loop_of.get(loop_id)
        return False

    def _order(self, nodes: dict[str, Node]) -> list[str]:
        """Kahn's algorithm; a leftover means a cycle, reported with its path."""
        indegree = {key: len(node.deps) for key, node in nodes.items()}
        children: dict[str, list[str]] = {key: [] for key in nodes}
        for key, node in nodes.items():
            for dep in node.deps:
                children[dep].append(key)
        ready = [key for key in nodes if indegree[key] == 0]
        order: list[str] = []
        while ready:
            key = ready.pop(0)
            order.append(key)
            for child in children[key]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        if len(order) < len(nodes):
            stuck = [key for key in nodes if key not in order]
            cycle = _find_cycle(stuck, nodes)
            self.problem(nodes[cycle[0]].path, cycle[0], "dependency cycle: " + " -> ".join(cycle),
                         "a step cannot depend, directly or through others, on itself; for repeated rounds use a loop step")
            order.extend(stuck)
        return order


def _find_cycle(stuck: list[str], nodes: dict[str, Node]) -> list[str]:
    start = stuck[0]
    seen: list[str] = [start]
    current = start
    while True:
        current = next(d for d in nodes[current].deps if d in stuck)
        if current in seen:
            return [*seen[seen.index(current):], current]
        seen.append(current)


def _most_steps(step: StepBase) -> int:
    """The steps a step can run at most: a loop's rounds times its body, a literal for_each's items."""
    body = body_of(step)
    if body is not None:
        return 1 + body.rounds * sum(_most_steps(inner) for inner in body.steps)
    return max(len(step.for_each), 1) if isinstance(step.for_each, list) else 1


def _refs_of(value: Any) -> References:
    if isinstance(value, Template):
        return value.refs
    refs = References()
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    for item in items:
        refs = refs | _refs_of(item)
    return refs


def compile_workflow(
    spec: WorkflowSpec,
    *,
    source: SourceText | None = None,
    roles: Collection[str] | Mapping[str, Any],
    check_model: ModelCheck | None = None,
    base_dir: pathlib.Path | None = None,
    trusted: bool = False,
) -> CompiledWorkflow:
    """Check ``spec`` and build its graph; raise ``WorkflowError`` listing every problem.

    ``base_dir`` is the workflow file's folder, where ``notebook:`` paths are looked for
    (the working directory when None, as when the workflow runs). ``trusted``: the file is
    part of gorgon-nb, so it needs no consent to run code (see ``trust``).
    """
    return _Compiler(spec, source, roles, check_model, base_dir, trusted).compile()


def missing_config(compiled: CompiledWorkflow, config: Any) -> list[Problem]:
    """What the config lacks for the workflow's steps to run (a GitHub, Notion or Slack token),
    each problem once, at the first step that needs it."""
    problems: dict[str, Problem] = {}
    source = compiled.source
    for node in compiled.all_nodes:
        step, kind = node.step, kind_of(node.step)
        problem = kind.needs(step, config) if kind.needs is not None else None
        if problem is None or problem.message in problems:
            continue
        line = source.locations.line_of((*node.path, step.kind)) if source else None
        problems[problem.message] = Problem(problem.message, f"{step.id}.{step.kind}", problem.hint,
                                            source.path if source else None, line)
    return list(problems.values())
