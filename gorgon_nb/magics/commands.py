"""The ``%gorgon`` line magics other than ``run``: each returns an object to display."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gorgon_nb.magics.display import HELP, Table, Text
from gorgon_nb.magics.webhooks import cmd_webhooks
from gorgon_nb.model.text import STATUS_LABELS, format_duration, format_time, preview
from gorgon_nb.model.usage import format_cost

ALLOW_CODE = ("--allow-code", "--allow-shell")  # the older spelling still works

__all__ = ["Notebook", "cmd_approvals", "cmd_approve", "cmd_cancel", "cmd_fork", "cmd_help", "cmd_jobs",
           "cmd_providers", "cmd_replay", "cmd_resume", "cmd_runs", "cmd_schedule", "cmd_schedules", "cmd_show",
           "cmd_tools", "cmd_webhooks", "cmd_workflows"]

Parse = Callable[[str, Sequence[str], Sequence[tuple[Sequence[str], dict[str, Any]]]], Any]


class Notebook(Protocol):
    """The notebook as a command sees it (``magics.GorgonMagics`` is one): the workflows it
    named with ``%%gorgon --name``, its variables, its runner, and a run shown live."""

    defined: dict[str, Any]

    @property
    def namespace(self) -> dict[str, Any]: ...

    def runner(self) -> Any: ...

    def watch(self, execution: Any, background: bool, out: str | None, *, title: str, view: Any = None) -> None: ...


def cmd_workflows(magics: Notebook, parse: Parse, words: Sequence[str]) -> Table:
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


def cmd_runs(magics: Notebook, parse: Parse, words: Sequence[str]) -> Any:
    from gorgon_nb.model.run import RunStatus, observed_runs

    options = parse("%gorgon runs", words, [(("-n", "--limit"), {"type": int, "default": 20}),
                                            (("--widget",), {"action": "store_true"}),
                                            (("--status",), {"default": None, "choices": [s.value for s in RunStatus]}),
                                            (("--workflow",), {"default": None})])
    store = _store(magics)
    runs = observed_runs(store.runs, store.control, options.limit, status=options.status, workflow_id=options.workflow)
    if options.widget:
        from gorgon_nb.widgets import HistoryView

        return HistoryView.from_runs([run for run, _ in runs], owners=store.control)
    rows = [[f"`{r.run_id}`", r.workflow_id, STATUS_LABELS.get(str(status), str(status)), format_time(r.started_at),
             format_duration(r.duration), f"{r.usage.total_tokens:,}", format_cost(r.usage)] for r, status in runs]
    return Table(["run", "workflow", "status", "started", "duration", "tokens", "cost"], rows, title="Recent runs",
                 empty="no runs yet", footer="`%gorgon show RUN` for one run; `--widget` adds a cost chart.")


def cmd_show(magics: Notebook, parse: Parse, words: Sequence[str]) -> Any:
    from gorgon_nb.widgets import RunView

    options = parse("%gorgon show", words, [(("run_id",), {"metavar": "RUN"})])
    store = _store(magics)
    run = store.runs.get(options.run_id)
    # the events give the graph's exact layout; the store tells a run whose process is gone
    return RunView.from_result(run, store.runs.events(run.run_id), owners=store.control)


def cmd_providers(magics: Notebook, parse: Parse, words: Sequence[str]) -> Table:
    from gorgon_nb.integrations import service_statuses
    from gorgon_nb.providers.registry import provider_statuses, resolve_auto

    parse("%gorgon providers", words, [])
    config = magics.runner().config
    rows = [[s.name, s.kind, s.model, ("✓ " if s.ready else "✗ ") + s.detail] for s in provider_statuses(config)]
    rows += [[s.name, "service", "-", ("✓ " if s.ready else "✗ ") + s.detail] for s in service_statuses(config)]
    model, notice = resolve_auto(config)
    footer = f"`model: auto` uses **{model}**." + (f" {notice}" if notice else "")
    footer += f" Settings: `{config.file or config.home / 'config.toml'}`."
    return Table(["provider", "kind", "default model", "status"], rows, title="LLM providers and services", footer=footer)


def cmd_tools(magics: Notebook, parse: Parse, words: Sequence[str]) -> Table:
    """Every tool set's tools, the MCP servers of the config started to list theirs."""
    from gorgon_nb.tools.catalog import list_tools

    options = parse("%gorgon tools", words, [(("ref",), {"nargs": "?", "metavar": "REF"})])
    groups = list_tools(magics.runner().config, options.ref)
    rows: list[list[Any]] = []
    for group in groups:
        if group.error:
            rows.append([f"`{group.ref}`", "✗", f"could not list: {preview(group.error.splitlines()[0], 200)}"])
        elif not group.tools:
            rows.append([f"`{group.ref}`", "", group.note or "no tools"])
        rows += [[f"`{tool.name}`", "writes" if tool.writes else "reads", preview(tool.description, 100)]
                 for tool in group.tools]
    return Table(["tool", "access", "description"], rows, title="Tools", empty="no tools to list",
                 footer="Give a step `tools: [files, \"mcp:SERVER\", \"mcp:SERVER/TOOL\"]`; calls of tools that "
                        "write wait for approval unless `auto_approve` says otherwise.")


def cmd_help(magics: Notebook, parse: Parse, words: Sequence[str]) -> Text:
    return HELP


def cmd_approve(magics: Notebook, parse: Parse, words: Sequence[str]) -> Text:
    options = parse("%gorgon approve", words, [(("ref",), {"metavar": "APPROVAL_OR_RUN"}),
                                               (("--step",), {}), (("--reject",), {"action": "store_true"}),
                                               (("-m", "--message"), {}), (("--by",), {})])
    decision = magics.runner().approve(options.ref, step=options.step, approve=not options.reject,
                                        comment=options.message, by=options.by)
    word = "Approved" if decision.approved else "Rejected"
    return Text(f"{word} **{decision.title}** (run `{decision.run_id}`, step `{decision.step_key}`) as "
                f"{decision.decided_by}" + (f": {decision.comment}" if decision.comment else ""))


def cmd_approvals(magics: Notebook, parse: Parse, words: Sequence[str]) -> Table:
    options = parse("%gorgon approvals", words, [(("--run",), {}), (("--all",), {"action": "store_true"})])
    runner = magics.runner()
    store = _store(magics)
    found = runner.approvals(options.run, status=None if options.all else "pending")
    rows = [[f"`{a.id}`", f"`{a.run_id}`", a.step_key, preview(a.title, 60), format_time(a.requested_at),
             str(a.status) + ("" if not a.pending or store.control.owner(a.run_id).alive else " (run stopped)")]
            for a in found]
    return Table(["approval", "run", "step", "title", "asked", "status"], rows, title="Approvals",
                 empty="nothing waits for approval",
                 footer="`%gorgon approve ID [--reject] [-m COMMENT]`; a stopped run goes on with `%gorgon resume RUN`.")


def cmd_resume(magics: Notebook, parse: Parse, words: Sequence[str]) -> None:
    from gorgon_nb.widgets import RunView

    options = parse("%gorgon resume", words, [(("run_id",), {"metavar": "RUN"}),
                                              (("--max-usd",), {"type": float}), (("--max-tokens",), {"type": int}),
                                              (("--model",), {}), (ALLOW_CODE, {"dest": "allow_code",
                                                                                  "action": "store_true"}),
                                              (("--background",), {"action": "store_true"}), (("--out",), {})])
    runner = magics.runner()
    record, workflow = runner.stored_workflow(options.run_id)
    execution = runner.resume_execution(record.run_id, max_usd=options.max_usd, max_tokens=options.max_tokens,
                                        model=options.model, allow_code=options.allow_code)
    view = RunView.from_result(record, _store(magics).runs.events(record.run_id))  # what happened before, then live
    magics.watch(execution, options.background, options.out, title=workflow.name, view=view)


def cmd_replay(magics: Notebook, parse: Parse, words: Sequence[str]) -> None:
    options = parse("%gorgon replay", words, [(("run_id",), {"metavar": "RUN"}), (("--out",), {})])
    runner = magics.runner()
    record, workflow = runner.stored_workflow(options.run_id)
    magics.watch(runner.replay_execution(record.run_id), False, options.out,
                 title=f"{workflow.name} (replay of {record.run_id})")


def cmd_fork(magics: Notebook, parse: Parse, words: Sequence[str]) -> None:
    from gorgon_nb.magics.parsing import _input, resolve_inputs

    options = parse("%gorgon fork", words, [(("run_id",), {"metavar": "RUN"}),
                                            (("--from",), {"dest": "from_step", "required": True}),
                                            (("-v", "--var"), {"dest": "inputs", "action": "append", "type": _input,
                                                               "default": []}),
                                            (("--model",), {}), (ALLOW_CODE, {"dest": "allow_code",
                                                                                "action": "store_true"}),
                                            (("--background",), {"action": "store_true"}), (("--out",), {})])
    runner = magics.runner()
    record, workflow = runner.stored_workflow(options.run_id)
    execution = runner.fork_execution(record.run_id, options.from_step, resolve_inputs(options.inputs, magics.namespace),
                                      model=options.model, allow_code=options.allow_code)
    magics.watch(execution, options.background, options.out,
                 title=f"{workflow.name} (fork of {record.run_id} from '{options.from_step}')")


def cmd_cancel(magics: Notebook, parse: Parse, words: Sequence[str]) -> Text:
    from gorgon_nb.magics.session import active_runs

    options = parse("%gorgon cancel", words, [(("run_id",), {"metavar": "RUN"})])
    store = _store(magics)
    run_id = store.runs.resolve_id(options.run_id)
    here = active_runs.get(run_id)
    if here is not None:  # started by this kernel: stop it here and now
        here.cancel()
        here.finished.wait(10)
        return Text(f"Run `{run_id}` cancelled; what finished is kept.")
    if magics.runner().cancel(run_id) == "cancelled":
        return Text(f"Run `{run_id}` cancelled (no process was running it); what finished is kept.")
    return Text(f"Asked the process running `{run_id}` to stop; it will within seconds.")


def _store(magics: Notebook) -> Any:
    store = magics.runner().store
    if store is None:
        from gorgon_nb.errors import ConfigError

        raise ConfigError("this session keeps no run history (it was started without a store)")
    return store


def cmd_schedule(magics: Notebook, parse: Parse, words: Sequence[str]) -> Text:
    from gorgon_nb.errors import UsageError
    from gorgon_nb.model.jobs import job_kind
    from gorgon_nb.notify.dispatch import notify_rules
    from gorgon_nb.scheduler.loop import scheduler_holder
    from gorgon_nb.scheduler.service import split_parameter, without_jupyterlab
    from gorgon_nb.workflow_jobs import dropped_notice, import_gorgon_schedule, schedule_target

    dropped: list[str] = []
    options = parse("%gorgon schedule", words, [
        (("target",), {"nargs": "?", "metavar": "NOTEBOOK_OR_WORKFLOW"}), (("--cron",), {}), (("--every",), {}),
        (("--at",), {}), (("--from",), {"dest": "from_file", "metavar": "FILE"}), (("--tz",), {"default": "UTC"}),
        (("-p", "--parameter"), {"dest": "parameters", "action": "append", "default": [], "metavar": "KEY=VALUE"}),
        (("-v", "--var"), {"dest": "inputs", "action": "append", "default": [], "metavar": "KEY=VALUE"}),
        (("--allow-code",), {"action": "store_true"}),
        (("--retries",), {"type": int, "default": 0}), (("--backoff",), {"default": "60"}), (("--timeout",), {}),
        (("--missed",), {"choices": ["skip", "catch-up"], "default": "skip"}),
        (("--overlap",), {"choices": ["skip", "queue"], "default": "skip"}),
        (("--keep",), {"type": int, "default": 20}), (("--name",), {"default": ""}), (("--root",), {}),
        (("--notify",), {"action": "append", "default": [], "metavar": "TARGET[:EVENTS]"})])
    store = _store(magics)
    common = dict(retries=options.retries, backoff=options.backoff, timeout=options.timeout, missed=options.missed,
                  overlap=options.overlap, keep=options.keep, name=options.name, root=options.root,
                  allow_code=options.allow_code, notify=notify_rules(options.notify))
    if options.from_file:
        if options.target or options.parameters or options.inputs or options.cron or options.every or options.at:
            raise UsageError("--from FILE takes the workflow, its trigger and its inputs from the file; give only "
                             "options such as --tz, --retries or --allow-code with it")
        schedule, dropped = import_gorgon_schedule(store, options.from_file, timezone=options.tz, **common)
    else:
        if not options.target:
            raise UsageError("name a notebook or a workflow to schedule (or --from FILE, a Gorgon schedule file)")
        notebook = job_kind(options.target) == "notebook"
        if options.inputs if notebook else options.parameters:
            raise UsageError("-v sets a workflow's inputs; give a notebook's parameters with -p KEY=VALUE" if notebook
                             else "-p sets a notebook's parameters; give a workflow's inputs with -v KEY=VALUE")
        given = options.parameters if notebook else options.inputs
        parameters = dict(split_parameter(p) for p in given) if notebook else dict(_key_value(v) for v in given)
        schedule = schedule_target(store, options.target, cron=options.cron, timezone=options.tz,
                                   every=options.every, at=options.at, parameters=parameters, **common)
    what = "the workflow " if schedule.kind == "workflow" else ""
    text = f"Scheduled {what}`{schedule.notebook}` ({schedule.trigger}) as `{schedule.id}`; " \
           f"next run {format_time(schedule.next_run_at)}" + (" (paused)." if schedule.paused else ".")
    if scheduler_holder(store) is None:
        text += (" No scheduler is running; jobs start while one runs: `gorgon scheduler` in a terminal, or "
                 "JupyterLab with `[scheduler] enabled = true` in the config")
        text += " (JupyterLab comes with `pip install 'gorgon-nb[lab]'`)." if without_jupyterlab() else "."
    if notice := dropped_notice(f"`{schedule.notebook}`", dropped):
        text += f" Note: {notice}."
    return Text(text)


def _key_value(text: str) -> tuple[str, str]:
    """A workflow input as ``%gorgon run -v`` reads it: the value is text; the workflow types it."""
    from gorgon_nb.errors import UsageError

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"'{text}' is not key=value (for example -v topic=sales)")
    return key.strip(), value


def cmd_schedules(magics: Notebook, parse: Parse, words: Sequence[str]) -> Table | Text:
    from gorgon_nb.scheduler import service

    options = parse("%gorgon schedules", words, [(("action",), {"nargs": "?",
                                                                "choices": ["pause", "resume", "delete", "run"]}),
                                                 (("ref",), {"nargs": "?", "metavar": "SCHEDULE"})])
    store = _store(magics)
    if options.action:
        if not options.ref:
            from gorgon_nb.errors import UsageError

            raise UsageError(f"%gorgon schedules {options.action} needs a SCHEDULE (an id or a name)")
        if options.action == "run":
            return Text(f"Queued job `{service.run_now(store, options.ref).id}`.")
        if options.action == "delete":
            return Text(f"Deleted schedule `{store.jobs.delete_schedule(options.ref).id}`.")
        changed = getattr(service, options.action)(store, options.ref)
        return Text(f"Schedule `{changed.id}` {'paused' if changed.paused else 'resumed'}.")
    rows = [[f"`{s.id}`", s.name, s.kind, f"`{s.notebook}`", s.trigger,
             "paused" if s.paused else format_time(s.next_run_at)] for s in store.jobs.schedules()]
    return Table(["schedule", "name", "kind", "notebook or workflow", "when", "next run"], rows, title="Schedules",
                 empty="no schedules yet", footer="`%gorgon schedules pause|resume|delete|run SCHEDULE`")


def cmd_jobs(magics: Notebook, parse: Parse, words: Sequence[str]) -> Table | Text:
    options = parse("%gorgon jobs", words, [(("action",), {"nargs": "?", "choices": ["cancel"]}),
                                            (("ref",), {"nargs": "?", "metavar": "JOB"}),
                                            (("-n", "--limit"), {"type": int, "default": 20}),
                                            (("--schedule",), {})])
    store = _store(magics)
    if options.action == "cancel":
        result = store.jobs.request_cancel(options.ref or "")
        return Text(f"Job `{options.ref}` " + ("cancelled." if result == "cancelled" else "stops within seconds."))
    schedule_id = store.jobs.get_schedule(options.schedule).id if options.schedule else None
    rows = [[f"`{j.id}`", j.kind, f"`{j.notebook}`", STATUS_LABELS.get(str(j.state), str(j.state)),
             format_time(j.scheduled_for), format_duration(j.duration), "-" if j.cost_usd is None else f"${j.cost_usd:.4f}",
             preview(j.error or "", 60), f"`{j.output_path}`" if j.output_path
             else (f"run `{j.run_ids[-1]}`" if j.kind == "workflow" and j.run_ids else "")]
            for j in store.jobs.recent(options.limit, schedule_id=schedule_id)]
    return Table(["job", "kind", "notebook or workflow", "state", "due", "duration", "cost", "error",
                  "executed notebook or run"], rows,
                 title="Recent jobs", empty="no jobs yet", footer="`%gorgon jobs cancel JOB` stops one.")
