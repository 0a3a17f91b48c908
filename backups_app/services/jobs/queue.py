"""Handing jobs to django-q2. A job is a row first; the task only carries its id.

Enqueued inside transaction.on_commit, so a worker never looks for a row
that is not committed yet. A job that needs one host's local file goes to
that host's own list (placement.py, broker.py); the enqueue_* functions
return that host ("" when any worker may run it), for the caller to say
where it will run.
"""

import logging

from django.db import transaction
from django_q.tasks import async_task

from backups_app.services.jobs import broker, placement, stopping
from backups_app.services.jobs import lifecycle as jobs

log = logging.getLogger(__name__)

TASKS = "backups_app.tasks."


def enqueue(task: str, *args, label: str = "", save: bool = True, host: str = "") -> None:
    """host: the one host whose worker must run it; "" for any."""
    path = TASKS + task
    name = label or f"{task}{args}"
    options = {"save": save, **({"cluster": broker.host_queue(host)} if host else {})}
    transaction.on_commit(lambda: async_task(path, *args, task_name=name, q_options=options))


def enqueue_backup(record) -> str:
    enqueue("run_backup", record.pk, label=f"backup #{record.pk}")
    return ""


def enqueue_server_run(record) -> str:
    enqueue("run_server_backup", record.pk, label=f"server run #{record.pk}")
    return ""


def enqueue_restore(record) -> str:
    host = placement.route(record.backup, placement.job_host(record))
    enqueue("run_restore", record.pk, label=f"restore #{record.pk}", host=host)
    return host


def enqueue_verify(record) -> str:
    host = placement.route(record.backup, placement.job_host(record))
    enqueue("run_verify", record.pk, label=f"verify #{record.pk}", host=host)
    return host


def enqueue_copy_offsite(record) -> str:
    host = placement.route(record, placement.file_host(record))
    enqueue("copy_offsite", record.pk, label=f"copy backup #{record.pk} offsite", host=host)
    return host


def enqueue_prune(policy, started_by: str = "") -> None:
    enqueue("run_prune", policy.pk, started_by, label=f"prune policy #{policy.pk}")


def enqueue_prune_job(record) -> str:
    enqueue("run_prune_job", record.pk, label=f"prune #{record.pk}")
    return ""


def enqueue_schedule_now(schedule, record=None) -> str:
    """A schedule's run now, outside its times; record: the backup row it fills, made when it was asked for."""
    enqueue("run_schedule_now", schedule.pk, record.pk if record else None, label=f"schedule #{schedule.pk} now")
    return ""


def hand_prune_to(host: str, *, policy_id: int | None, target_id: int | None, backup_type: str,
                  started_by: str = "") -> None:
    """What a prune left to `host` (its local files): that host's worker prunes the same scope again, there only."""
    what = f"policy #{policy_id}" if policy_id else f"target #{target_id} {backup_type}"
    enqueue("run_prune_here", policy_id, target_id, backup_type, started_by, label=f"prune {what} on {host}",
            host=host)


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
    except jobs.OnAnotherHost as exc:
        # A task another host's list should have had (queued before the file's host was known): hand it over.
        enqueue(task, record_id, label=f"{task.removeprefix('run_')} #{record_id}", host=exc.host)
        return f"handed to host {exc.host}: {exc}"
    except jobs.NotQueued as exc:
        log.info("%s: nothing to do", exc)
        return f"skipped: {exc}"
    except jobs.TargetBusy as exc:
        # Not saved as a result: a long wait would otherwise fill the task history.
        enqueue(task, record_id, label=f"{task.removeprefix('run_')} #{record_id} (waiting)", save=False,
                host=exc.host)
        return f"waiting: {exc}"
    return record.status
