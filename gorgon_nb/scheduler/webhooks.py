"""What people do with webhooks, the same from the terminal, the notebook, the server and
Python: create one (or import Gorgon's file), find its secret, and replay a delivery.

What a webhook may hold is checked here, once for every front door: its name (the last
part of its URL), its workflow (a file under its root, or a workflow's name), its inputs
(as a schedule's parameters: ``check_parameters``), its mappings, its rate, and that its
secret can be read now. A delivery's job is built here too (``job_for``), so a webhook's
runs are scheduler jobs, with their retries, lease and backends.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gorgon_nb.errors import NotFoundError, UsageError
from gorgon_nb.model.jobs import Job
from gorgon_nb.model.webhooks import NAME_PATTERN, Delivery, PayloadMapping, Webhook, placeholders
from gorgon_nb.scheduler.service import check_parameters
from gorgon_nb.scheduler.triggers import plain_text

if TYPE_CHECKING:
    from gorgon_nb.config import Config
    from gorgon_nb.store import Store

__all__ = ["RATE_LIMIT", "SECRET_MIN", "create_webhook", "import_gorgon_webhook", "job_for", "replay", "secret_for",
           "workflow_problem"]

RATE_LIMIT = 10_000  # deliveries a minute, at most
SECRET_MIN = 16  # characters: a shorter shared secret can be guessed
SUFFIXES = (".yaml", ".yml", ".json")  # of workflow files, as gorgon_nb.workflow reads them
MAKE_SECRET = "python -c \"import secrets; print(secrets.token_hex(32))\""


def secret_for(name: str, secret_env: str, config: Config) -> str | None:
    """The shared secret of the webhook ``name``: the variable ``secret_env`` names, else the
    config's ``[webhooks.NAME]`` (its ``secret_env``, then its ``secret``)."""
    from gorgon_nb.secrets import register_variable, remember

    settings = config.webhooks.get(name)
    variable = secret_env or (settings.secret_env if settings else None) or ""
    secret = config.env.get(variable) if variable else None
    if not secret and not secret_env and settings is not None:
        secret = settings.secret
    if variable:
        register_variable(variable)
    if secret:
        remember(secret)  # never shown in what gorgon keeps or prints
    return secret or None


def missing_secret(name: str, secret_env: str, config: Config) -> str:
    """Why the webhook ``name`` has no secret now, and how to give it one."""
    where = config.file or config.home / "config.toml"
    if secret_env:
        return (f"the webhook {name} reads its secret from ${secret_env}, which is not set here; set it "
                f"(export {secret_env}=$({MAKE_SECRET})) where the Jupyter server or `gorgon scheduler` runs, "
                "and give the sender the same value")
    return (f"the webhook {name} has no secret: pass --secret-env VARIABLE (a variable holding it), or add "
            f"[webhooks.{name}] with secret_env = \"VARIABLE\" to {where}")


def _within(root: Path, path: Path) -> str | None:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def _named(name: str, config: Config) -> Path | None:
    """A workflow by its name, where ``gorgon run NAME`` finds it: the user's workflows,
    then the bundled ones (the same folders as gorgon_nb.workflow.list_workflows)."""
    import gorgon_nb

    package = Path(gorgon_nb.__file__).resolve().parent
    bundled = package / "_bundled" / "workflows"
    for folder in (config.home / "workflows", bundled if bundled.is_dir() else package.parent / "workflows"):
        for suffix in SUFFIXES:
            if (folder / f"{name}{suffix}").is_file():
                return folder / f"{name}{suffix}"
    return None


def resolve_workflow(ref: str, root: Path, config: Config, *, beside: Path | None = None) -> str:
    """What a webhook's job names: a workflow file's path relative to ``root`` (it cannot
    leave it), or the name of a user's or bundled workflow. A bare name is looked for
    beside ``beside`` (the file that named it), in ``root`` and its ``workflows/`` folder,
    then by name."""
    if not ref or len(ref) > 1024 or not plain_text(ref):
        raise UsageError("name the workflow: a file (.yaml, .yml or .json) under the root, or a workflow's name")
    if ref.endswith(SUFFIXES) or "/" in ref:
        path = root / ref
        relative = _within(root, path)
        if relative is None:
            raise UsageError(f"the workflow {ref} is outside {root}, the folder webhooks run from; move it in, or "
                             "give another root")
        if not path.is_file():
            raise NotFoundError(f"no workflow file {ref} under {root}; check the path")
        return relative
    for folder in (beside, root, root / "workflows"):  # where Gorgon's schedule files are looked for too
        for suffix in SUFFIXES:
            candidate = folder / f"{ref}{suffix}" if folder is not None else None
            if candidate is not None and candidate.is_file():
                relative = _within(root, candidate)
                if relative is None:
                    raise UsageError(f"the workflow {ref} is at {candidate}, outside {root}, the folder webhooks run "
                                     "from; run the command from a folder that holds it, or pass --root")
                return relative
    if _named(ref, config) is None:
        raise NotFoundError(f"no workflow '{ref}' beside the file, in {root} or its workflows/ folder, among your "
                            "workflows or the bundled ones; name a workflow file, or run 'gorgon workflows' to list them")
    return ref


def workflow_problem(webhook: Webhook, config: Config) -> str | None:
    """Why the webhook's workflow cannot be started now (its file is gone), or None."""
    if webhook.workflow.endswith(SUFFIXES) or "/" in webhook.workflow:
        root = Path(webhook.root)
        if _within(root.resolve(), root / webhook.workflow) is None or not (root / webhook.workflow).is_file():
            return f"the workflow file {webhook.workflow} is no longer under {webhook.root}"
        return None
    return None if _named(webhook.workflow, config) else f"no workflow named '{webhook.workflow}' any more"


def _mappings(values: Any) -> list[PayloadMapping]:
    if not isinstance(values, list):
        raise UsageError("payload_mappings must be a list of {source_path, target_variable}")
    mappings = []
    for value in values:
        if isinstance(value, PayloadMapping):
            value = value.__dict__
        if not isinstance(value, Mapping) or set(value) - {"source_path", "target_variable", "default", "as_input"}:
            raise UsageError(f"a payload mapping has source_path, target_variable and an optional default, not {value!r}"[:300])
        source, target = value.get("source_path"), value.get("target_variable")
        if not isinstance(source, str) or not source or len(source) > 500 or not plain_text(source):
            raise UsageError(f"a mapping's source_path is a dotted path such as repository.full_name, not {source!r}")
        if not isinstance(target, str) or not target.isidentifier():
            raise UsageError(f"a mapping's target_variable is an input's name (a Python name), not {target!r}")
        mappings.append(PayloadMapping(source, target, value.get("default")))
    return mappings


def _check_inputs(webhook: Webhook, declared: Collection[str]) -> None:
    """Every fixed input is one of the workflow's (``declared``), and every mapped value
    goes to one, or fills a ``{{name}}`` of a fixed input only (then it is not passed on)."""
    known = ", ".join(sorted(declared)) or "none"
    if unknown := sorted(set(webhook.inputs) - set(declared)):
        raise UsageError(f"the workflow {webhook.workflow} has no input '{unknown[0]}' (its inputs: {known}); "
                         "give only its inputs")
    filled = set().union(*(placeholders(value) for value in webhook.inputs.values())) if webhook.inputs else set()
    for mapping in webhook.payload_mappings:
        if mapping.target_variable in declared:
            continue
        if mapping.target_variable not in filled:
            raise UsageError(f"the payload's {mapping.source_path} goes to '{mapping.target_variable}', which is no "
                             f"input of the workflow {webhook.workflow} (its inputs: {known}) and no {{{{name}}}} "
                             "of a fixed input; map it to one of them")
        mapping.as_input = False


def create_webhook(store: Store, config: Config, name: str, workflow: str, *, root: str | Path | None = None,
                   inputs: Mapping[str, Any] | None = None, payload_mappings: list[Any] | None = None,
                   secret_env: str = "", rate: int = 60, description: str = "", paused: bool = False,
                   beside: Path | None = None, inputs_of: Callable[[Path], Collection[str]] | None = None
                   ) -> Webhook:
    """A new webhook at ``/gorgon/webhooks/NAME`` that starts ``workflow`` (relative to
    ``root``, default the current folder). Its secret must be readable now. ``inputs_of``
    gives the inputs a workflow file declares (the front doors load it), to check the
    webhook's inputs against."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise UsageError(f"a webhook's name is the last part of its URL: 1 to 64 letters, digits, '-' or '_', "
                         f"starting with a letter or digit (not {name!r})"[:300])
    if secret_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", secret_env):
        raise UsageError(f"--secret-env takes the NAME of an environment variable (such as GITHUB_HOOK_SECRET), "
                         f"not {'its value' if len(secret_env) > 20 else repr(secret_env)}")
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= RATE_LIMIT:
        raise UsageError(f"the rate is deliveries started a minute: a whole number from 1 to {RATE_LIMIT:,}")
    if not isinstance(description, str) or len(description) > 1000:
        raise UsageError("the description is a text of at most 1000 characters")
    base = Path(root or Path.cwd()).resolve()
    secret = secret_for(name, secret_env, config)
    if secret is None:
        raise UsageError(missing_secret(name, secret_env, config))
    if len(secret) < SECRET_MIN:
        raise UsageError(f"the secret of the webhook {name} has {len(secret)} characters; use at least {SECRET_MIN} "
                         f"(make one with {MAKE_SECRET})")
    webhook = Webhook(name=name, workflow=resolve_workflow(workflow, base, config, beside=beside), root=str(base),
                      inputs=check_parameters(inputs), payload_mappings=_mappings(payload_mappings or []),
                      secret_env=secret_env, rate=rate, description=description, paused=paused,
                      created_at=time.time())
    if inputs_of is not None:
        file = _named(webhook.workflow, config) if not webhook.workflow.endswith(SUFFIXES) and "/" not in \
            webhook.workflow else base / webhook.workflow
        if file is not None:
            _check_inputs(webhook, inputs_of(file))
    return store.webhooks.create(webhook)


def import_gorgon_webhook(store: Store, config: Config, file: str | Path, *, root: str | Path | None = None,
                          name: str | None = None, secret_env: str = "", rate: int = 60,
                          inputs_of: Callable[[Path], Collection[str]] | None = None) -> Webhook:
    """A webhook from Gorgon's JSON definition (``webhook_github_push.json``) as it is: its
    ``id`` is the name, ``workflow_id`` a workflow found beside the file, in the root or by
    name, ``static_variables`` the fixed inputs; ``status: disabled`` makes it paused."""
    path = Path(file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NotFoundError(f"cannot read {file}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{file} is not JSON: {exc}") from None
    if not isinstance(data, dict) or "workflow_id" not in data:
        raise UsageError(f"{file} is not a Gorgon webhook (it has no workflow_id); give a file such as "
                         "webhook_github_push.json")
    known = {"id", "name", "description", "workflow_id", "payload_mappings", "static_variables", "status", "secret",
             "created_at", "last_triggered", "trigger_count"}
    if unknown := sorted(set(data) - known):
        raise UsageError(f"{file}: unknown keys {', '.join(unknown)}; a Gorgon webhook has {', '.join(sorted(known))}")
    if data.get("secret"):
        raise UsageError(f"{file} holds its secret; gorgon keeps secrets out of its store: put it in an environment "
                         "variable, pass --secret-env VARIABLE, and remove it from the file")
    if data.get("status", "active") not in ("active", "disabled"):
        raise UsageError(f"{file}: status is active or disabled, not {data['status']!r}")
    return create_webhook(
        store, config, name or str(data.get("id") or data.get("name") or ""), str(data["workflow_id"]), root=root,
        inputs=data.get("static_variables") or {}, payload_mappings=data.get("payload_mappings") or [],
        secret_env=secret_env, rate=rate, description=str(data.get("description") or data.get("name") or ""),
        paused=data.get("status") == "disabled", beside=path.resolve().parent, inputs_of=inputs_of)


def job_for(webhook: Webhook, inputs: dict[str, Any]) -> Job:
    return Job(id="", root=webhook.root, notebook=webhook.workflow, parameters=inputs)


def replay(store: Store, config: Config, ref: str) -> Delivery:
    """Start a failed or rate-limited delivery again (or one whose job failed), with the
    inputs it gave, as a new delivery that points to it. A person asks: no rate applies."""
    original = store.webhooks.delivery(ref)
    if not original.replayable:
        raise UsageError(f"delivery {original.id} was {original.status.replace('_', ' ')}"
                         f"{' (its job ' + original.job_state + ')' if original.job_state else ''}; only failed or "
                         "rate-limited deliveries, and accepted ones whose job failed, are replayed")
    started = [d for d in store.webhooks.deliveries(original.webhook, 500)
               if d.replay_of == original.id and d.status == "accepted" and d.job_state not in ("failed", "timed_out")]
    if started:
        raise UsageError(f"delivery {original.id} was replayed already, as {started[0].id} (job {started[0].job_id})")
    if original.inputs is None:
        raise UsageError(f"delivery {original.id} kept no inputs to start again with ({original.reason})")
    webhook = store.webhooks.get(original.webhook)
    again = Delivery(id="", webhook=webhook.name, delivery_id=original.delivery_id, received_at=time.time(),
                     status="accepted", reason=f"replay of {original.id}", event=original.event,
                     inputs=original.inputs, payload=original.payload, payload_size=original.payload_size,
                     replay_of=original.id)
    if problem := workflow_problem(webhook, config):
        raise UsageError(f"{problem}; fix that, then replay {original.id} again")
    recorded, _ = store.webhooks.record(again, job_for(webhook, original.inputs), dedupe=False)
    return recorded
