"""Notebooks and workflows as scheduled jobs: ``gorgon_nb.schedule("report.ipynb", every="1h")``.

``model`` (schedules, jobs), ``triggers`` (cron, interval, once), ``service`` (what people
do with them), ``loop`` (the scheduler), ``execute`` and ``pool`` (a notebook's job in a
fresh kernel), ``workflow_run`` (a workflow's job in a process of its own),
``gorgon_schedules`` (Gorgon's schedule files), ``dask_backend`` (jobs on a Dask cluster).
Scheduling a workflow checks it with the runner, so it lives above this package, in
``gorgon_nb.workflow_jobs`` (``gorgon_nb.schedule`` takes either).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gorgon_nb.model.jobs import Schedule

__all__ = ["schedule"]


def schedule(notebook: str, **options: Any) -> Schedule:
    """Schedule ``notebook`` in the default store (a workflow: ``gorgon_nb.schedule``); the
    options are ``gorgon schedule``'s:
    ``cron`` (with ``timezone``), ``every`` or ``at``; ``parameters``, ``retries``,
    ``backoff``, ``timeout``, ``missed``, ``overlap``, ``keep``, ``name``, ``root``."""
    from gorgon_nb.config import load_config
    from gorgon_nb.scheduler.service import schedule_notebook
    from gorgon_nb.store import Store

    return schedule_notebook(Store(load_config().db_path), notebook, **options)
