"""The ``gorgon`` command line: every command, option and help text, and nothing heavy.

Building the parser imports no engine, store, config or rich, so ``gorgon --help``,
``gorgon --version`` and a mistyped command answer at once; each command names the
function that runs it (``module:function``), imported only when it runs.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Generator, Sequence
from typing import Any, NoReturn

from gorgon_nb.model.jobs import JobState
from gorgon_nb.model.run import RunStatus

__all__ = ["CommandLineError", "GorgonParser", "build_parser", "parse_args", "unknown_command"]

EXAMPLES = """\
examples:
  gorgon run dev_plan_build_test_review -v feature_request="Add a CSV export"
  gorgon run my_flow.yaml --model offline     try a workflow without an API key
  gorgon validate my_flow.yaml                report every problem of a workflow file
  gorgon runs --status stopped                runs whose process is gone
  gorgon resume RUN                           go on with a stopped, failed or cancelled run
  gorgon show RUN --json | jq .steps          one run, as JSON
  gorgon tools mcp:fs                         the tools of the MCP server fs
  gorgon help run                             the options of one command

environment:
  GORGON_HOME    where config.toml, the gorgon.db store and your workflows/ live
                 (default: <jupyter data dir>/gorgon)
  GORGON_CONFIG  another config file;  GORGON_MODEL  the model of 'model: auto'
  GORGON_USER    who approves;  GORGON_DEBUG=1  show the traceback of an internal error

output:
  With --json a command prints JSON on stdout. Its errors then go to stderr as JSON:
  {"error": {"type": "NotFoundError", "message": "...", "exit_code": 2}}.
  Times are in your local time zone; the date is shown when it is not today.

exit codes:
  0    success
  1    the run failed
  2    bad input: an unknown command or option, a broken workflow, a missing input
  130  interrupted (Ctrl-C); the run is recorded as cancelled and can be resumed
"""

RUN_STATUSES = [str(s) for s in RunStatus]
JOB_STATES = [str(s) for s in JobState]


class CommandLineError(Exception):
    """A command line that does not parse; ``parser`` is the (sub)command it belongs to."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


def _suggest(word: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown_command(word: str, known: Sequence[str]) -> str:
    return f"unknown command '{word}'{_suggest(word, known)} (gorgon --help lists them)"


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Room for the longest command name beside its help, and no lone ``COMMAND`` line above them."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)

    def _format_action(self, action: argparse.Action) -> str:
        text = super()._format_action(action)
        if isinstance(action, argparse._SubParsersAction):
            text = text.split("\n", 1)[1]
        return text

    def _iter_indented_subactions(self, action: argparse.Action) -> Generator[argparse.Action, None, None]:
        yield from getattr(action, "_get_subactions", list)()  # the commands stand where COMMAND stood


class GorgonParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises ``CommandLineError`` and says what was probably meant."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self.commands: dict[str, GorgonParser] = {}

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(self, message)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is None or value in choices:
            return
        known = [str(c) for c in choices]
        if isinstance(action, argparse._SubParsersAction):
            raise argparse.ArgumentError(None, unknown_command(str(value), known))
        raise argparse.ArgumentError(action, f"'{value}' is not one of {', '.join(known)}"
                                             f"{_suggest(str(value), known)}")

    def option_strings(self) -> list[str]:
        return [option for action in self._actions for option in action.option_strings]

    def unknown(self, extras: Sequence[str]) -> NoReturn:
        """Refuse arguments this command does not take, with the option probably meant."""
        word = extras[0]
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            self.error(f"unknown option '{name}'{_suggest(name, self.option_strings())}")
        self.error(f"unexpected argument{'s' * (len(extras) > 1)}: {' '.join(extras)}")


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"'{text}' is not key=value (for example -v feature_request=\"Add a CSV export\")")
    return key.strip(), value


def _given(what: str) -> Any:
    """An argument type that refuses an empty value ('' would match every id that starts with it)."""
    def check(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{what} is needed, not an empty string")
        return text

    return check


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"'{text}' must be 1 or more")
    return number


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port (1 to 65535)")
    return int(text)


def _parameter(text: str) -> tuple[str, Any]:
    from gorgon_nb.errors import UsageError
    from gorgon_nb.scheduler.service import split_parameter

    try:
        return split_parameter(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(exc.for_surface("cli")) from None


def _json(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument("--json", action="store_true", help=f"{what} (errors then go to stderr as JSON)")


def _inputs(command: argparse.ArgumentParser, help: str) -> None:
    command.add_argument("-v", "--var", dest="inputs", action="append", type=_key_value, default=[],
                         metavar="KEY=VALUE", help=help)


def _execution(command: argparse.ArgumentParser, *, model: bool = True) -> None:
    if model:
        command.add_argument("--model", metavar="MODEL",
                             help="use this model for every LLM step: auto, offline, anthropic:NAME, "
                                  "openai:NAME, ollama:NAME, or PROVIDER:NAME from your config")
        command.add_argument("--allow-code", "--allow-shell", dest="allow_code", action="store_true",
                             help="let the workflow run code on this machine (shell, notebook and python steps) "
                                  "if it says allow_code: true; only for workflows you trust")
    _json(command, "print the result as JSON instead of progress and a summary")
    command.add_argument("-q", "--quiet", action="store_true", help="no live progress, only the summary")


def _run_id(command: argparse.ArgumentParser) -> None:
    command.add_argument("run_id", metavar="RUN", type=_given("a run id"),
                         help="a run id, or enough of its start to be unambiguous")


def build_parser() -> GorgonParser:
    parser = GorgonParser(prog="gorgon", description="Multi-agent LLM workflows: run, validate and inspect them.",
                          epilog=EXAMPLES)
    from gorgon_nb import __version__

    parser.add_argument("--version", action="version", version=f"gorgon {__version__}",
                        help="print gorgon's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", parser_class=GorgonParser)

    def command(name: str, handler: str, help: str, description: str | None = None) -> GorgonParser:
        made: GorgonParser = sub.add_parser(name, help=help, description=description or help[0].upper() + help[1:] + ".")
        made.set_defaults(handler=handler)
        parser.commands[name] = made
        return made

    run = command("run", "commands:cmd_run", "run a workflow and show its progress",
                  "Run a workflow with live progress, and end with a summary and the run id. "
                  "Ctrl-C cancels it; 'gorgon resume RUN' goes on from where it was.")
    run.add_argument("workflow", metavar="WORKFLOW", help="a workflow file, or the name of a bundled or user "
                                                           "workflow (gorgon workflows lists them)")
    _inputs(run, "a workflow input (repeatable)")
    _execution(run)

    validate = command("validate", "commands:cmd_validate", "check workflow files and report every problem",
                       "Check workflow files and report every problem of each, with its line and a hint. "
                       "Exits 2 if any file has a problem.")
    validate.add_argument("files", nargs="+", metavar="FILE", help="workflow files (.yaml, .yml or .json)")
    _inputs(validate, "also check these inputs against the declared ones (repeatable)")
    _json(validate, "print each file's problems as JSON")

    convert = command("convert", "convert:cmd_convert", "print the native YAML of a Gorgon workflow",
                      "Print the native YAML of a workflow in Gorgon's YAML or JSON shape, with comments on "
                      "what needs your attention (MCP servers to declare, shell commands to allow).")
    convert.add_argument("file", metavar="FILE", help="a Gorgon workflow file (.yaml, .yml or .json)")
    convert.add_argument("-o", "--output", metavar="OUT", help="write the YAML to OUT instead of printing it")

    runs = command("runs", "commands:cmd_runs", "list recent runs, newest first")
    runs.add_argument("-n", "--limit", type=_positive, default=20, metavar="N", help="how many runs (20)")
    runs.add_argument("--status", choices=RUN_STATUSES, metavar="STATUS",
                      help="only runs with this status: " + ", ".join(RUN_STATUSES)
                           + " (stopped: its process is gone; gorgon resume goes on with it)")
    runs.add_argument("--workflow", metavar="ID", help="only runs of this workflow id")
    _json(runs, "print the runs as JSON")

    show = command("show", "commands:cmd_show", "show one run: steps, outputs, usage and errors")
    _run_id(show)
    show.add_argument("--brief", action="store_true", help="the table only, without the step outputs")
    _json(show, "print the run, its steps and their outputs as JSON")

    resume = command("resume", "durable:cmd_resume", "go on with a stopped, failed or cancelled run",
                     "Go on with a run whose process stopped, that failed, or that was cancelled (Ctrl-C, "
                     "gorgon cancel). Finished steps are kept and model answers already received are not paid "
                     "for again.")
    _run_id(resume)
    resume.add_argument("--max-usd", type=float, metavar="X", help="raise the run's dollar budget to X")
    resume.add_argument("--max-tokens", type=int, metavar="N", help="raise the run's token budget to N")
    _execution(resume)

    cancel = command("cancel", "durable:cmd_cancel", "stop a run, from any process; what finished is kept")
    _run_id(cancel)
    cancel.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                        help="how long to wait for it to stop (10)")
    _json(cancel, "print the outcome as JSON")

    replay = command("replay", "durable:cmd_replay", "repeat a finished run from its record: same outputs, no cost")
    _run_id(replay)
    _execution(replay, model=False)

    fork = command("fork", "durable:cmd_fork", "run a finished run again from a step on, reusing the steps before")
    _run_id(fork)
    fork.add_argument("--from", dest="from_step", required=True, metavar="STEP", type=_given("a step id"),
                      help="the first step to run again; the steps that depend on it run again too")
    _inputs(fork, "change an input (repeatable)")
    _execution(fork)

    approvals = command("approvals", "durable:cmd_approvals", "list what waits for a person's approval")
    approvals.add_argument("--run", metavar="RUN", type=_given("a run id"), help="only this run's approvals")
    approvals.add_argument("--all", action="store_true", help="decided ones too")
    approvals.add_argument("--show", action="store_true", help="print each one's preview: what it would let through")
    _json(approvals, "print the approvals, previews included, as JSON")

    approve = command("approve", "durable:cmd_approve", "approve (or --reject) what a run waits for")
    approve.add_argument("ref", metavar="APPROVAL_OR_RUN", type=_given("an approval or run id"),
                         help="an approval id, or a run that waits for one")
    approve.add_argument("--step", metavar="STEP", help="which step, when the run waits for several")
    approve.add_argument("--reject", action="store_true", help="reject instead of approving")
    approve.add_argument("-m", "--message", metavar="COMMENT",
                         help="a comment; a rejected step sent back for revision gets it")
    approve.add_argument("--by", metavar="NAME", help="who decides (default: GORGON_USER or your user name)")
    _json(approve, "print the decided approval as JSON")

    _json(command("workflows", "commands:cmd_workflows", "list bundled and user workflows"),
          "print the workflows as JSON")
    _json(command("roles", "commands:cmd_roles", "list the agent roles"), "print the roles as JSON")
    _json(command("providers", "commands:cmd_providers",
                  "show which LLM providers are configured, and how to configure the rest"),
          "print the providers, services and the model of 'auto' as JSON")

    tools = command("tools", "tools:cmd_tools", "list the tools agents can call, the MCP servers' included",
                    "List every tool set and its tools: whether each reads or writes, and what it does. "
                    "The MCP servers of your config are started to list theirs, then stopped.")
    tools.add_argument("ref", nargs="?", metavar="REF", type=_given("a tool set or MCP server"),
                       help="only this set or server: files, mcp:fs, mcp:fs/read_text_file")
    _json(tools, "print the tool sets and their tools as JSON")

    schedule = command("schedule", "schedule:cmd_schedule",
                       "run a notebook or a workflow on a schedule (cron, interval or once)",
                       "Run a notebook or a workflow on a schedule (cron, interval or once), or import a Gorgon "
                       "schedule file with --from FILE.")
    schedule.add_argument("target", nargs="?", metavar="NOTEBOOK_OR_WORKFLOW",
                          help="a notebook (.ipynb) or a workflow file (.yaml, .yml, .json), relative to --root; or "
                               "the name of a bundled or user workflow")
    when = schedule.add_mutually_exclusive_group()
    when.add_argument("--cron", metavar="EXPR", help='five cron fields, for example "0 8 * * MON"')
    when.add_argument("--every", metavar="INTERVAL", help="an interval: 90, 30s, 15m, 2h, 1d")
    when.add_argument("--at", metavar="TIME", help="once, at this time: 2030-01-07T09:00")
    when.add_argument("--from", dest="from_file", metavar="FILE",
                      help="import a Gorgon schedule file (JSON with schedule_type, cron_config or interval_config, "
                           "variables and workflow_id)")
    _inputs(schedule, "a workflow input, as gorgon run takes it (repeatable)")
    schedule.add_argument("--allow-code", dest="allow_code", action="store_true",
                          help="let the workflow's jobs run code on this machine (shell, notebook and python steps) "
                               "if it says allow_code: true; only for workflows you trust")
    schedule.add_argument("--tz", default="UTC", metavar="ZONE", help="the time zone of --cron and --at (UTC)")
    schedule.add_argument("-p", "--parameter", dest="parameters", action="append", type=_parameter, default=[],
                          metavar="KEY=VALUE", help="a notebook's papermill parameter, typed as papermill's -p "
                                                    "types it (repeatable)")
    schedule.add_argument("--retries", type=int, default=0, metavar="N",
                          help="tries after a failure or a timeout (0)")
    schedule.add_argument("--backoff", default="60", metavar="DURATION",
                          help="wait before the first retry; doubles each time (60s)")
    schedule.add_argument("--timeout", metavar="DURATION", help="for the whole notebook or run, e.g. 10m (none)")
    schedule.add_argument("--missed", choices=["skip", "catch-up"], default="skip",
                          help="runs missed while no scheduler ran: skip them, or run once to catch up (skip)")
    schedule.add_argument("--overlap", choices=["skip", "queue"], default="skip",
                          help="when the last job still runs: skip this one, or queue it (skip)")
    schedule.add_argument("--keep", type=int, default=20, metavar="N", help="executed notebooks kept (20)")
    schedule.add_argument("--name", default="", metavar="NAME",
                          help="a name to refer to the schedule by; no two schedules share one")
    schedule.add_argument("--root", metavar="FOLDER",
                          help="the folder notebooks and workflow files are confined to (the current one)")
    schedule.add_argument("--notify", action="append", default=[], metavar="TARGET[:EVENTS]",
                          help="tell a notification target when a job ends: team, or team:failed,succeeded "
                               "(repeatable; events: succeeded, failed, cancelled)")
    _json(schedule, "print the new schedule as JSON")

    schedules = command("schedules", "schedule:cmd_schedules", "list schedules; pause, resume, delete or run one now",
                        "List schedules, or act on one: 'gorgon schedules pause SCHEDULE'.")
    schedules.add_argument("action", nargs="?", choices=["pause", "resume", "delete", "run"], metavar="ACTION",
                           help="pause, resume, delete, or run (queue a job now)")
    schedules.add_argument("ref", nargs="?", metavar="SCHEDULE", type=_given("a schedule id or name"),
                           help="an id, enough of the start of one, or a name")
    _json(schedules, "print the schedules (or the one acted on) as JSON")

    jobs = command("jobs", "schedule:cmd_jobs", "list recent jobs of schedules; show or cancel one",
                   "List recent jobs, or act on one: 'gorgon jobs show JOB'.")
    jobs.add_argument("action", nargs="?", choices=["show", "cancel"], metavar="ACTION",
                      help="show (every detail of a job) or cancel")
    jobs.add_argument("ref", nargs="?", metavar="JOB", type=_given("a job id"),
                      help="a job id, or enough of its start to be unambiguous")
    jobs.add_argument("-n", "--limit", type=_positive, default=20, metavar="N", help="how many jobs (20)")
    jobs.add_argument("--schedule", metavar="SCHEDULE", type=_given("a schedule id or name"),
                      help="only this schedule's jobs")
    jobs.add_argument("--state", choices=JOB_STATES, metavar="STATE",
                      help="only jobs in this state: " + ", ".join(JOB_STATES))
    _json(jobs, "print the jobs (or the one shown) as JSON")

    scheduler = command("scheduler", "schedule:cmd_scheduler", "run the scheduler loop here until Ctrl-C")
    scheduler.add_argument("--dask", metavar="ADDRESS", help="run jobs on this Dask cluster (tcp://host:8786)")
    scheduler.add_argument("--concurrency", type=int, default=2, metavar="N", help="jobs at once (2)")
    scheduler.add_argument("--pool", type=int, default=2, metavar="N", help="kernels started ahead (2)")
    scheduler.add_argument("--lease-ttl", type=float, default=15.0, metavar="SECONDS",
                           help="seconds without renewal after which another scheduler takes over (15)")
    scheduler.add_argument("--tick", type=float, default=1.0, metavar="SECONDS",
                           help="seconds between looks at the store (1)")
    scheduler.add_argument("--webhooks", type=_port, metavar="PORT",
                           help="also take webhook deliveries (POST /gorgon/webhooks/NAME) on this port")
    scheduler.add_argument("--webhooks-host", default="127.0.0.1", metavar="HOST",
                           help="the address the webhooks listen on (127.0.0.1; 0.0.0.0 for every interface)")

    webhook = command("webhook", "webhooks:cmd_webhook", "create, list, pause, resume or delete webhooks",
                      "A webhook starts a workflow when a signed HTTP POST comes to /gorgon/webhooks/NAME: "
                      "'gorgon webhook create NAME WORKFLOW --secret-env VAR', or "
                      "'gorgon webhook create --from webhook_github_push.json'.")
    webhook.add_argument("action", choices=["create", "list", "show", "delete", "pause", "resume"], metavar="ACTION",
                         help="create, list, show, delete, pause or resume")
    webhook.add_argument("name", nargs="?", metavar="NAME", type=_given("a webhook name"),
                         help="the webhook's name, the last part of its URL")
    webhook.add_argument("workflow", nargs="?", metavar="WORKFLOW",
                         help="the workflow it starts: a file relative to --root, or a workflow's name")
    webhook.add_argument("--from", dest="from_file", metavar="FILE",
                         help="create it from a Gorgon webhook file (webhook_github_push.json)")
    webhook.add_argument("--secret-env", default="", metavar="VARIABLE",
                         help="the environment variable holding the shared secret (else [webhooks.NAME] in the config)")
    webhook.add_argument("-v", "--var", dest="inputs", action="append", type=_parameter, default=[],
                         metavar="KEY=VALUE", help="a fixed input of the workflow, as gorgon run takes it (repeatable)")
    webhook.add_argument("--map", dest="mappings", action="append", type=_key_value, default=[],
                         metavar="PATH=INPUT", help="copy the payload's PATH (repository.full_name) to INPUT (repeatable)")
    webhook.add_argument("--rate", type=_positive, default=60, metavar="N", help="deliveries started a minute (60)")
    webhook.add_argument("--description", default="", metavar="TEXT", help="what it is for")
    webhook.add_argument("--root", metavar="FOLDER", help="the folder workflows are confined to (the current one)")
    _json(webhook, "print the webhook(s) as JSON")

    webhooks = command("webhooks", "webhooks:cmd_webhooks", "list webhooks, their deliveries; replay a delivery",
                       "List webhooks, their recent deliveries ('gorgon webhooks deliveries [NAME]'), or start a "
                       "failed or rate-limited delivery again ('gorgon webhooks replay DELIVERY').")
    webhooks.add_argument("action", nargs="?", choices=["list", "deliveries", "show", "replay"], metavar="ACTION",
                          help="list (the default), deliveries, show (one delivery, with its body) or replay")
    webhooks.add_argument("ref", nargs="?", metavar="NAME|DELIVERY", type=_given("a webhook name or a delivery id"),
                          help="deliveries: only this webhook's; show and replay: the delivery's id")
    webhooks.add_argument("-n", "--limit", type=_positive, default=20, metavar="N", help="how many deliveries (20)")
    _json(webhooks, "print them as JSON")

    notify = command("notify", "notify:cmd_notify", "send a test message to a notification target",
                     "Send a test message to a target of [notifications.targets] now, and say what failed if it "
                     "could not be sent.")
    notify.add_argument("action", choices=["test"], metavar="ACTION", help="test")
    notify.add_argument("target", metavar="TARGET", type=_given("a target name"),
                        help="a target's name, or slack, email or webhook for the one target of that kind")
    _json(notify, "print the outcome as JSON")

    notifications = command("notifications", "notify:cmd_notifications",
                            "list recent notifications: sent, waiting for a retry, or failed and why")
    notifications.add_argument("-n", "--limit", type=_positive, default=20, metavar="N",
                               help="how many notifications (20)")
    notifications.add_argument("--state", choices=["pending", "sent", "failed"], metavar="STATE",
                               help="only those in this state: pending, sent, failed")
    notifications.add_argument("--run", metavar="RUN", type=_given("a run id"), help="only this run's")
    _json(notifications, "print the notifications as JSON")

    help_ = command("help", "", "show the help of gorgon or of one command")
    help_.add_argument("topic", nargs="?", metavar="COMMAND", help="the command to explain")
    return parser


def parse_args(argv: Sequence[str]) -> tuple[GorgonParser, argparse.Namespace]:
    """The parser and the parsed arguments; raises ``CommandLineError`` for anything it does not take."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        parser.commands.get(args.command or "", parser).unknown(extras)
    return parser, args
