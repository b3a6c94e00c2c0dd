"""``%gorgon workflows | runs | show | providers | help``: each returns an object to display."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from gorgon_nb.format import STATUS_LABELS, format_cost, format_duration, format_time, preview
from gorgon_nb.magics.display import HELP, Table, Text

if TYPE_CHECKING:
    from gorgon_nb.magics.magics import GorgonMagics

__all__ = ["cmd_help", "cmd_providers", "cmd_runs", "cmd_show", "cmd_workflows"]

Parse = Callable[[str, Sequence[str], Sequence[tuple[Sequence[str], dict[str, Any]]]], Any]


def cmd_workflows(magics: GorgonMagics, parse: Parse, words: Sequence[str]) -> Table:
    from gorgon_nb.config import gorgon_home
    from gorgon_nb.workflow import Workflow, list_workflows

    parse("%gorgon workflows", words, [])
    rows: list[list[Any]] = [[f"`{name}`", "this notebook", len(wf.spec.steps), preview(wf.description or wf.name, 80)]
                             for name, wf in magics.defined.items()]
    for name, path in list_workflows().items():
        try:
            workflow = Workflow.from_file(path)
            rows.append([f"`{name}`", path.parent.name, len(workflow.spec.steps),
                         preview(workflow.description or workflow.name, 80)])
        except Exception as exc:  # one broken file must not hide the others
            rows.append([f"`{name}`", path.parent.name, "?", f"cannot load: {preview(str(exc), 60)}"])
    return Table(["name", "from", "steps", "description"], rows, title="Workflows",
                 footer=f"Run one with `%gorgon run NAME -v KEY=VALUE`. Your own go in `{gorgon_home() / 'workflows'}`.")


def cmd_runs(magics: GorgonMagics, parse: Parse, words: Sequence[str]) -> Any:
    options = parse("%gorgon runs", words, [(("-n", "--limit"), {"type": int, "default": 20}),
                                            (("--widget",), {"action": "store_true"}),
                                            (("--status",), {"default": None}),
                                            (("--workflow",), {"default": None})])
    runs = _store(magics).list_runs(options.limit, status=options.status, workflow_id=options.workflow)
    if options.widget:
        from gorgon_nb.widgets import HistoryView

        return HistoryView.from_runs(runs)
    rows = [[f"`{r.run_id}`", r.workflow_id, STATUS_LABELS.get(str(r.status), str(r.status)), format_time(r.started_at),
             format_duration(r.duration), f"{r.usage.total_tokens:,}", format_cost(r.usage)] for r in runs]
    return Table(["run", "workflow", "status", "started", "duration", "tokens", "cost"], rows, title="Recent runs",
                 empty="no runs yet", footer="`%gorgon show RUN` for one run; `--widget` adds a cost chart.")


def cmd_show(magics: GorgonMagics, parse: Parse, words: Sequence[str]) -> Any:
    from gorgon_nb.widgets import RunView

    options = parse("%gorgon show", words, [(("run_id",), {"metavar": "RUN"})])
    store = _store(magics)
    run = store.get_run(options.run_id)
    return RunView.from_result(run, store.events(run.run_id))  # the events give the graph's exact layout


def cmd_providers(magics: GorgonMagics, parse: Parse, words: Sequence[str]) -> Table:
    from gorgon_nb.providers.registry import provider_statuses, resolve_auto

    parse("%gorgon providers", words, [])
    config = magics._runner().config
    rows = [[s.name, s.kind, s.model, ("✓ " if s.ready else "✗ ") + s.detail] for s in provider_statuses(config)]
    model, notice = resolve_auto(config)
    footer = f"`model: auto` uses **{model}**." + (f" {notice}" if notice else "")
    footer += f" Settings: `{config.file or config.home / 'config.toml'}`."
    return Table(["provider", "kind", "default model", "status"], rows, title="LLM providers", footer=footer)


def cmd_help(magics: GorgonMagics, parse: Parse, words: Sequence[str]) -> Text:
    return HELP


def _store(magics: GorgonMagics) -> Any:
    store = magics._runner().store
    if store is None:
        from gorgon_nb.errors import ConfigError

        raise ConfigError("this session keeps no run history (it was started without a store)")
    return store
