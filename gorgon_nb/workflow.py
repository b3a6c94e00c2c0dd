"""``Workflow``: load a workflow from text, a file, a dict or a bundled name; check and run it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from gorgon_nb.errors import Advice, NotFoundError, Problem, WorkflowError, did_you_mean
from gorgon_nb.model import gorgon_json, gorgon_yaml
from gorgon_nb.model.source import SourceText, parse_source, read_source
from gorgon_nb.model.validation import partial_spec, problems_from_validation
from gorgon_nb.model.workflow import WorkflowSpec

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.engine.compile import CompiledWorkflow
    from gorgon_nb.model.run import RunResult

__all__ = ["Workflow", "bundled_workflows_dir", "check_text", "every_problem", "find_workflow", "list_workflows"]

WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")


class Workflow:
    """A parsed workflow plus the text it came from.

    Build one with ``from_yaml``, ``from_json``, ``from_dict``, ``from_file`` or
    ``load`` (a path or a bundled name); ``validate()`` checks it against the roles and
    providers configured; ``run()`` / ``await arun()`` execute it.
    """

    def __init__(self, spec: WorkflowSpec, source: SourceText | None = None, base_dir: Path | None = None) -> None:
        self.spec = spec
        self.source = source
        self.base_dir = base_dir

    def __repr__(self) -> str:
        return f"<Workflow {self.id!r}: {len(self.spec.steps)} steps>"

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.name or self.spec.id

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def path(self) -> str | None:
        return self.source.path if self.source else None

    # -- loading --------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: SourceText | None = None,
                  base_dir: Path | None = None) -> Workflow:
        """Build from data in the native shape, or Gorgon's JSON or YAML shape (whatever the file's syntax)."""
        if not isinstance(data, Mapping):
            where = source.path if source and source.path else "<workflow>"
            raise WorkflowError([Problem(f"a workflow must be a mapping, not {type(data).__name__}", file=where,
                                         hint="start the file with 'id: my_workflow' and a 'steps:' list")])
        data = dict(data)
        if gorgon_json.is_gorgon_json(data):
            data, source = gorgon_json.convert(data, source)
        elif gorgon_yaml.is_gorgon_yaml(data):
            data, source = gorgon_yaml.convert(data, source)
        try:
            spec = WorkflowSpec.model_validate(data)
        except ValidationError as exc:
            error = WorkflowError(problems_from_validation(exc, data, source))
            error.partial = partial_spec(data, exc, source)
            raise error from None
        return cls(spec, source, base_dir)

    @classmethod
    def from_yaml(cls, text: str, *, path: str | os.PathLike[str] | None = None) -> Workflow:
        return cls._from_text(text, path, "yaml")

    @classmethod
    def from_json(cls, text: str, *, path: str | os.PathLike[str] | None = None) -> Workflow:
        return cls._from_text(text, path, "json")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Workflow:
        file = Path(path)
        try:
            text = read_source(file)  # refused when too big or not UTF-8
        except FileNotFoundError:
            raise NotFoundError(f"no workflow file at {file}; check the path. ", Advice(
                python="gorgon_nb.workflow.list_workflows() lists the bundled ones.",
                notebook="Run %gorgon workflows to list the bundled ones.",
                cli="Run 'gorgon workflows' to list the bundled ones.")) from None
        except (IsADirectoryError, PermissionError) as exc:
            raise NotFoundError(f"cannot read workflow file {file}: {exc}") from None
        return cls._from_text(text, file, None)

    @classmethod
    def load(cls, name_or_path: str | os.PathLike[str], *, search: list[Path] | None = None) -> Workflow:
        """A file path, or the name of a bundled or user workflow (``dev_plan_build_test_review``)."""
        return cls.from_file(find_workflow(name_or_path, search=search))

    @classmethod
    def _from_text(cls, text: str, path: str | os.PathLike[str] | None, fmt: str | None) -> Workflow:
        shown = str(path) if path is not None else None
        data, source = parse_source(text, path=shown, format=fmt)
        base_dir = Path(path).resolve().parent if path is not None else None
        return cls.from_dict(data if data is not None else {}, source=source, base_dir=base_dir)

    # -- checking and running -------------------------------------------------------------

    def compile(self, config: Config | None = None, *, _seen: set[Path] | None = None) -> CompiledWorkflow:
        """Check against the configured roles and providers; raise ``WorkflowError``.

        Sub-workflows named by ``workflow:`` steps are found and checked too.
        """
        from gorgon_nb.config import load_config
        from gorgon_nb.engine.compile import compile_workflow
        from gorgon_nb.providers.registry import check_model_ref

        config = config or load_config()
        problems: list[Problem] = []
        compiled = None
        try:
            compiled = compile_workflow(self.spec, source=self.source, roles=config.roles,
                                        check_model=lambda ref: check_model_ref(ref, config), base_dir=self.base_dir,
                                        trusted=self.bundled)
        except WorkflowError as exc:
            problems.extend(exc.problems)
        own = {Path(self.path).resolve()} if self.path else set()
        problems.extend(self._sub_workflow_problems(config, _seen or own))
        if problems or compiled is None:
            raise WorkflowError(problems)
        return compiled

    @property
    def bundled(self) -> bool:
        """Whether this is one of the workflows that come with gorgon-nb (trusted as part of it).
        The installed copy's folder counts; a copy elsewhere, or one in GORGON_HOME, does not."""
        return self.base_dir is not None and self.base_dir.resolve() == bundled_workflows_dir().resolve()

    def _sub_workflow_problems(self, config: Config, seen: set[Path]) -> list[Problem]:
        from gorgon_nb.model.kinds import body_of
        from gorgon_nb.steps.workflow import WorkflowStep

        problems: list[Problem] = []
        pending: list[tuple[tuple[str | int, ...], Any]] = [(("steps", i), s) for i, s in enumerate(self.spec.steps)]
        while pending:
            path, step = pending.pop(0)
            if (body := body_of(step)) is not None:
                pending.extend(((*path, body.field, i), inner) for i, inner in enumerate(body.steps))
            if not isinstance(step, WorkflowStep):
                continue
            line = self.source.locations.line_of((*path, "workflow")) if self.source else None
            try:
                file = resolve_sub_workflow(step.workflow, self.base_dir).resolve()
                if file in seen:
                    if step.when is None:
                        problems.append(Problem(
                            f"'{step.workflow}' includes the workflow that runs it, so it would never end",
                            f"{step.id}.workflow", "give the step a 'when' that stops the recursion",
                            self.path, line))
                    continue
                Workflow.from_file(file).compile(config, _seen=seen | {file})
            except WorkflowError as exc:
                problems.extend(exc.problems)
            except NotFoundError as exc:
                problems.append(Problem(exc.without_advice(), f"{step.id}.workflow", file=self.path, line=line))
        return problems

    def problems(self, config: Config | None = None) -> list[Problem]:
        """Every problem of the workflow, a missing GitHub, Notion or Slack token included."""
        from gorgon_nb.config import load_config
        from gorgon_nb.engine.compile import missing_config

        config = config or load_config()
        try:
            compiled = self.compile(config)
        except WorkflowError as exc:
            return exc.problems
        return missing_config(compiled, config)

    def validate(self, config: Config | None = None) -> Workflow:
        self.compile(config)
        return self

    def run(self, inputs: Mapping[str, Any] | None = None, **options: Any) -> RunResult:
        """Run to the end and return the result; see ``gorgon_nb.run`` for the options."""
        from gorgon_nb.runner import run

        return run(self, inputs, **options)

    async def arun(self, inputs: Mapping[str, Any] | None = None, **options: Any) -> RunResult:
        from gorgon_nb.runner import arun

        return await arun(self, inputs, **options)


def check_text(text: str, *, path: str | os.PathLike[str] | None = None, config: Config | None = None,
               format: str | None = None) -> list[Problem]:
    """Every problem in a workflow's text, even when some steps do not parse."""
    base_dir = Path(path).resolve().parent if path is not None else None
    try:
        data, source = parse_source(text, path=str(path) if path is not None else None, format=format)
        return Workflow.from_dict(data if data is not None else {}, source=source, base_dir=base_dir).problems(config)
    except WorkflowError as exc:
        return every_problem(exc, base_dir=base_dir, config=config)


def every_problem(error: WorkflowError, *, base_dir: Path | None = None,
                  config: Config | None = None) -> list[Problem]:
    """The problems of a workflow that failed to load, and those of the parts that did load.

    Steps that failed to parse are stood in for (see ``model.validation.partial_spec``), the
    rest is compiled, and both lists are merged by line.
    """
    if not isinstance(error.partial, tuple):
        return error.problems
    spec, source = error.partial
    more = Workflow(spec, source, base_dir).problems(config)
    return sorted(error.problems + more, key=lambda p: (p.line or 0, p.field))


# -- finding workflows ----------------------------------------------------------------------

def bundled_workflows_dir() -> Path:
    """``workflows/`` shipped in the wheel, or the checkout's top-level ``workflows/``."""
    here = Path(__file__).resolve().parent
    packaged = here / "_bundled" / "workflows"
    return packaged if packaged.is_dir() else here.parent / "workflows"


def _search_dirs(search: list[Path] | None) -> list[Path]:
    if search is not None:
        return search
    from gorgon_nb.config import gorgon_home

    return [gorgon_home() / "workflows", bundled_workflows_dir()]


def declared_inputs(path: str | os.PathLike[str]) -> frozenset[str]:
    """The names of the inputs the workflow file at ``path`` declares (``WorkflowError`` if it does not load)."""
    return frozenset(Workflow.from_file(path).spec.inputs)


def list_workflows(search: list[Path] | None = None) -> dict[str, Path]:
    """Workflow names to files; a user workflow hides a bundled one of the same name."""
    found: dict[str, Path] = {}
    for folder in reversed(_search_dirs(search)):
        if folder.is_dir():
            for file in sorted(folder.iterdir()):
                if file.suffix in WORKFLOW_SUFFIXES:
                    found[file.stem] = file
    return dict(sorted(found.items()))


def resolve_sub_workflow(ref: str, base_dir: Path | None) -> Path:
    """The file of a ``workflow:`` step's reference: beside its workflow's file (in
    ``base_dir``), or a bundled or user workflow's name."""
    if base_dir is not None and (base_dir / ref).is_file():
        return base_dir / ref
    return find_workflow(ref)


def find_workflow(name_or_path: str | os.PathLike[str], *, search: list[Path] | None = None) -> Path:
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate
    known = list_workflows(search)
    name = str(name_or_path)
    if name in known:
        return known[name]
    if candidate.suffix in WORKFLOW_SUFFIXES or os.sep in name:
        raise NotFoundError(f"no workflow file at {name}; check the path")
    hint = did_you_mean(name, known)
    raise NotFoundError(f"no workflow named '{name}'" + (f" ({hint})" if hint else "") + ". ", Advice(
        python="gorgon_nb.workflow.list_workflows() lists them; or pass a file path.",
        notebook="Run %gorgon workflows to list them, or pass a file path.",
        cli="Run 'gorgon workflows' to list them, or pass a file path."))
