"""Handing jobs to django-q2. A job is a row first; the task only carries its id.

Enqueued inside transaction.on_commit, so a worker never looks for a row
that is not committed yet.
"""

import logging

from django.db import transaction
from django_q.tasks import async_task

from backups_app.services.jobs import lifecycle as jobs
from backups_app.services.jobs import stopping

log = logging.getLogger(__name__)

TASKS = "backups_app.tasks."


def enqueue(task: str, *args, label: str = "", save: bool = True) -> None:
    path = TASKS + task
    name = label or f"{task}{args}"
    transaction.on_commit(lambda: async_task(path, *args, task_name=name, q_options={"save": save}))


def enqueue_backup(record) -> None:
    enqueue("run_backup", record.pk, label=f"backup #{record.pk}")


def enqueue_restore(record) -> None:
    enqueue("run_restore", record.pk, label=f"restore #{record.pk}")


def enqueue_verify(record) -> None:
    enqueue("run_verify", record.pk, label=f"verify #{record.pk}")


def enqueue_copy_offsite(record) -> None:
    enqueue("copy_offsite", record.pk, label=f"copy backup #{record.pk} offsite")


def enqueue_prune(policy, started_by: str = "") -> None:
    enqueue("run_prune", policy.pk, started_by, label=f"prune policy #{policy.pk}")


def run_in_turn(task: str, record_id: int, execute) -> str:
    """Run a queued job now if its target is free; otherwise hand it back to the queue.

    execute(record_id=, defer_when_busy=True) is a service that waits a short
    slice for the target and raises jobs.TargetBusy when it stays busy. The
    job then goes to the back of the queue, so this worker serves other
    targets meanwhile, and is refused once it has waited too long.
    """
    try:
        record = execute(record_id=record_id, defer_when_busy=True)
    except stopping.Interrupted as exc:
        # The worker is stopping; the job has ended failed and tidied up after itself.
        return f"interrupted by {exc}"
    except jobs.NotQueued as exc:
        log.info("%s: nothing to do", exc)
        return f"skipped: {exc}"
    except jobs.TargetBusy as exc:
        # Not saved as a result: a long wait would otherwise fill the task history.
        enqueue(task, record_id, label=f"{task.removeprefix('run_')} #{record_id} (waiting)", save=False)
        return f"waiting: {exc}"
    return record.status
