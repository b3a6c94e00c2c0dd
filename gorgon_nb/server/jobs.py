"""Schedules and jobs: scheduled notebooks and workflows, and each time they ran.

``GET``/``POST schedules``, ``POST schedules/{id}/pause|resume|run``, ``DELETE
schedules/{id}``, ``GET jobs``, ``GET jobs/{id}``, ``POST jobs/{id}/cancel``; the shapes are
in ``API.md``. Notebooks are named relative to the Jupyter server's root folder and cannot
leave it, as in JupyterLab's file browser. Executed notebooks get ``notebook_url_path``,
their path under that root, which JupyterLab opens, or ``notebook_unavailable``, why it
cannot (the job ran from another root, the notebook is gone, or it is in a hidden folder
the server does not serve). A workflow (a .yaml, .yml or .json file under that root, or a
bundled or user workflow's name) is scheduled the same way, its inputs as ``parameters``;
its jobs carry ``kind: "workflow"`` and the id of their run in ``run_ids``.

A schedule's body is read by ``ScheduleBody`` and then checked by the scheduling service,
as ``gorgon schedule`` is: finite durations, ``every`` of at least a minute, cron dates that
come, parameters of at most 64 KiB as JSON (``scheduler/service.py`` has the limits).

With ``[scheduler] enabled = true`` the server runs the scheduler loop itself
(``scheduler.py``). A job whose ``gorgon-jobs`` folder is a link out of its root fails
with the reason, and nothing is written (``scheduler.execute.execute_job``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from jupyter_server.auth.decorator import authorized
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from tornado import web

from gorgon_nb.errors import NotFoundError, UsageError
from gorgon_nb.model.jobs import JobState
from gorgon_nb.scheduler.service import (
    KEEP_LIMIT,
    NAME_LIMIT,
    NOTEBOOK_LIMIT,
    RETRIES_LIMIT,
    check_parameters,
)
from gorgon_nb.scheduler.triggers import parse_duration, parse_every, plain_text
from gorgon_nb.server.base import GorgonHandler, Limit, Line
from gorgon_nb.server.files import ServerFiles
from gorgon_nb.server.inputs import ApiError, EmptyBody, Query, dumps, one_of, parse_body

if TYPE_CHECKING:
    from gorgon_nb.model.jobs import Job, Schedule
    from gorgon_nb.store import Store

__all__ = ["FEED_JOBS", "JobCancelHandler", "JobHandler", "JobsHandler", "JobsQuery",
           "ScheduleActionHandler", "ScheduleBody", "ScheduleHandler", "SchedulesHandler", "jobs_payload"]

FEED_JOBS = 50
JOB_STATES = tuple(str(state) for state in JobState)
SCHEDULE_HINT = ('send {"notebook": "reports/weekly.ipynb", "every": "1h"} (or "cron": "0 8 * * MON", or '
                 '"at": "2026-12-01T09:00"), with optional "parameters": {"region": "EU"}; for a workflow, '
                 '{"workflow": "flows/report.yaml", "every": "1h", "parameters": {"topic": "sales"}}, with '
                 '"allow_code": true if it runs code you trust')
JOBS_HINT = "for example ?limit=50&schedule=ID&state=failed"
NO_QUERY = "this route takes no query"
NO_BODY = "send no body, or {}"


def _service(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``check`` (the scheduling service's, which raises ``UsageError``) as a pydantic validator."""
    def validate(value: Any) -> Any:
        try:
            return check(value)
        except UsageError as exc:
            raise ValueError(str(exc)) from None
    return validate


def _one_line(value: str) -> str:
    if not plain_text(value):
        raise ValueError("must be one line, without control characters")
    return value


OneLine = Annotated[StrictStr, AfterValidator(_one_line)]
Seconds = Annotated[float, BeforeValidator(_service(parse_duration), json_schema_input_type=str | float)]
"""A duration: seconds, or ``30s``, ``15m``, ``2h``, ``1d``; finite, at most a year."""
Interval = Annotated[float, BeforeValidator(_service(parse_every), json_schema_input_type=str | float)]
"""``every``: a duration of at least a minute."""


class ScheduleBody(BaseModel):
    """The body of ``POST schedules``: what ``gorgon schedule`` takes, as JSON."""

    model_config = ConfigDict(extra="forbid")

    # a notebook (.ipynb), or a workflow's file or name: "workflow" is the same field
    notebook: OneLine = Field(min_length=1, max_length=NOTEBOOK_LIMIT,
                              validation_alias=AliasChoices("notebook", "workflow"))
    cron: OneLine | None = Field(None, max_length=200)
    every: Interval | None = None
    at: OneLine | None = Field(None, max_length=100)
    timezone: OneLine = Field("UTC", max_length=100)
    parameters: dict[str, Any] = Field(default_factory=dict)
    retries: StrictInt = Field(0, ge=0, le=RETRIES_LIMIT)
    backoff: Seconds = 60
    timeout: Seconds | None = None
    missed: Literal["skip", "catch_up", "catch-up"] = "skip"
    overlap: Literal["skip", "queue"] = "skip"
    keep: StrictInt = Field(20, ge=1, le=KEEP_LIMIT)
    name: OneLine = Field("", max_length=NAME_LIMIT)
    allow_code: StrictBool = False  # a workflow's consent to run code, as gorgon schedule --allow-code

    @field_validator("parameters", mode="before")
    @classmethod
    def _typed(cls, parameters: Any) -> Any:
        """``["key=value", ...]`` typed as ``gorgon schedule -p`` types them; an object as it is."""
        if not isinstance(parameters, list):
            return parameters
        from gorgon_nb.scheduler.service import split_parameter

        if not all(isinstance(line, str) for line in parameters):
            raise ValueError('give an object, or a list of "key=value" texts')
        try:
            return dict(split_parameter(line) for line in parameters)
        except UsageError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("parameters")
    @classmethod
    def _storable(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        """Python names, JSON values, 64 KiB at most: ``check_parameters``, as every front door."""
        checked: dict[str, Any] = _service(check_parameters)(parameters)
        return checked

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleBody:
        if sum(value is not None for value in (self.cron, self.every, self.at)) != 1:
            raise ValueError('give exactly one of "cron", "every" or "at"')
        return self


class JobsQuery(Query):
    """``GET jobs?limit=50&schedule=ID&state=STATE``."""

    limit: Limit = FEED_JOBS
    schedule: Line = ""
    state: Annotated[str, AfterValidator(lambda v: v and one_of("state", v, JOB_STATES))] = ""


# -- JSON shapes ------------------------------------------------------------------------------


def job_json(job: Job, files: ServerFiles) -> dict[str, Any]:
    opens, why_not = files.locate(job.root, job.output_path)
    return {**job.to_dict(), "notebook_url_path": opens, "notebook_unavailable": why_not}


def schedule_json(store: Store, schedule: Schedule, files: ServerFiles) -> dict[str, Any]:
    last = store.jobs.recent(1, schedule_id=schedule.id)
    return {
        **schedule.to_dict(),
        "notebook_url_path": files.locate(schedule.root, schedule.notebook)[0],
        "active": store.jobs.count_active(schedule.id),
        "last_job": {"id": last[0].id, "state": str(last[0].state), "ended_at": last[0].ended_at} if last else None,
    }


def scheduler_json(store: Store) -> dict[str, Any]:
    """Whether a scheduler holds the lease now (queued jobs start), and which."""
    from gorgon_nb.scheduler.loop import scheduler_holder

    owner = scheduler_holder(store)
    return {"running": owner is not None, "owner": owner}


def jobs_payload(store: Store, files: ServerFiles) -> dict[str, Any]:
    """The feed's ``jobs`` update: the most recent jobs, every schedule, and the scheduler."""
    return {"type": "jobs", "jobs": [job_json(j, files) for j in store.jobs.recent(FEED_JOBS)],
            "schedules": [schedule_json(store, s, files) for s in store.jobs.schedules()],
            "scheduler": scheduler_json(store)}


# -- handlers ---------------------------------------------------------------------------------


class JobsBaseHandler(GorgonHandler):
    @property
    def files(self) -> ServerFiles:
        return self.backend.files

    def answer(self, payload: Any) -> None:
        self.finish(dumps(payload))


class SchedulesHandler(JobsBaseHandler):
    """``GET`` and ``POST /gorgon/api/schedules``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.query(Query, NO_QUERY)
        files = self.files
        listed = await self.in_thread(lambda store: [schedule_json(store, s, files) for s in store.jobs.schedules()])
        self.answer({"schedules": listed})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        from gorgon_nb.workflow_jobs import schedule_target

        self.query(Query, NO_QUERY)
        body = parse_body(self.request.body, ScheduleBody, SCHEDULE_HINT)
        files = self.files

        def create(store: Store) -> dict[str, Any]:
            try:
                schedule = schedule_target(
                    store, body.notebook, root=files.root, cron=body.cron, timezone=body.timezone, every=body.every,
                    at=body.at, parameters=body.parameters, retries=body.retries, backoff=body.backoff,
                    timeout=body.timeout, missed=body.missed, overlap=body.overlap, keep=body.keep, name=body.name,
                    allow_code=body.allow_code)
            except NotFoundError as exc:  # the body names a notebook or a workflow that is not there
                raise ApiError(400, exc.for_surface("sidebar")) from None
            return schedule_json(store, schedule, files)

        created = await self.in_thread(create)
        self.log.info("gorgon: scheduled %s (%s) as %s", created["notebook"], created["trigger"], created["id"])
        self.set_status(201)
        self.answer(created)


class ScheduleHandler(JobsBaseHandler):
    """``GET`` and ``DELETE /gorgon/api/schedules/{id}``."""

    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        self.query(Query, NO_QUERY)
        files = self.files
        self.answer(await self.in_thread(lambda store: schedule_json(store, store.jobs.get_schedule(ref), files)))

    @web.authenticated
    @authorized
    async def delete(self, ref: str) -> None:
        self.query(Query, NO_QUERY)
        parse_body(self.request.body, EmptyBody, "send no body", empty="{}")
        deleted = await self.in_thread(lambda store: store.jobs.delete_schedule(ref))
        self.log.info("gorgon: deleted schedule %s (%s)", deleted.id, deleted.notebook)
        self.set_status(204)
        self.finish()


class ScheduleActionHandler(JobsBaseHandler):
    """``POST /gorgon/api/schedules/{id}/pause``, ``/resume`` and ``/run`` (run now)."""

    @web.authenticated
    @authorized
    async def post(self, ref: str, action: str) -> None:
        from gorgon_nb.scheduler import service

        self.query(Query, NO_QUERY)
        parse_body(self.request.body, EmptyBody, NO_BODY, empty="{}")
        files = self.files
        if action == "run":
            job = await self.in_thread(lambda store: service.run_now(store, ref))
            self.log.info("gorgon: job %s of schedule %s queued to run now", job.id, job.schedule_id)
            self.answer({"job": job_json(job, files)})
            return
        change = service.pause if action == "pause" else service.resume
        self.answer(await self.in_thread(lambda store: schedule_json(store, change(store, ref), files)))


class JobsHandler(JobsBaseHandler):
    """``GET /gorgon/api/jobs``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.query(JobsQuery, JOBS_HINT)
        files = self.files

        def listed(store: Store) -> list[dict[str, Any]]:
            schedule_id = store.jobs.get_schedule(query.schedule).id if query.schedule else None
            jobs = store.jobs.recent(query.limit, schedule_id=schedule_id, state=query.state or None)
            return [job_json(j, files) for j in jobs]

        self.answer({"jobs": await self.in_thread(listed)})


class JobHandler(JobsBaseHandler):
    """``GET /gorgon/api/jobs/{id}``."""

    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        self.query(Query, NO_QUERY)
        files = self.files
        self.answer({"job": await self.in_thread(lambda store: job_json(store.jobs.get(ref), files))})


class JobCancelHandler(JobsBaseHandler):
    """``POST /gorgon/api/jobs/{id}/cancel``."""

    @web.authenticated
    @authorized
    async def post(self, ref: str) -> None:
        self.query(Query, NO_QUERY)
        parse_body(self.request.body, EmptyBody, NO_BODY, empty="{}")

        def cancel(store: Store) -> str:
            job = store.jobs.get(ref)
            try:
                return store.jobs.request_cancel(job.id)
            except UsageError as exc:  # it ended already
                raise ApiError(409, exc.for_surface("sidebar")) from None

        self.answer({"result": await self.in_thread(cancel)})
