"""Handing jobs to django-q2. A job is a row first; the task only carries its id.

Enqueued inside transaction.on_commit, so a worker never looks for a row
that is not committed yet.
"""

from django.db import transaction
from django_q.tasks import async_task

TASKS = "backups_app.tasks."


def enqueue(task: str, *args, label: str = "") -> None:
    path = TASKS + task
    transaction.on_commit(lambda: async_task(path, *args, task_name=label or f"{task}{args}"))


def enqueue_backup(record) -> None:
    enqueue("run_backup", record.pk, label=f"backup #{record.pk}")


def enqueue_restore(record) -> None:
    enqueue("run_restore", record.pk, label=f"restore #{record.pk}")


def enqueue_verify(record) -> None:
    enqueue("run_verify", record.pk, label=f"verify #{record.pk}")


def enqueue_prune(policy, started_by: str = "") -> None:
    enqueue("run_prune", policy.pk, started_by, label=f"prune policy #{policy.pk}")
