"""The django-q2 broker of every process: the shared queue, and beside it one list per host for jobs only it can run.

A job that needs a host's local file (jobs/placement.py) is enqueued with
async_task(..., cluster=host_queue(host)): the configured broker puts it in
that host's own list (Redis: a list of its own; the ORM broker: rows under
its own key). Each host's cluster takes tasks from its own list and from the
shared one, so such a job waits for that host's worker however many other
workers are idle, and every other job goes to whichever worker is free. The
lists live in the broker, so they survive a worker's restart as the shared
queue does. Q_CLUSTER's broker_class names these (settings.py).
"""

from time import sleep

from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf

from backups_app.services.jobs import process


def host_queue(host: str) -> str:
    """The name of a host's own list: the cluster's name and the host's."""
    return f"{Conf.CLUSTER_NAME}@{host}"


class HostORM(ORM):
    """The console database as the broker (django-q2's ORM broker), reading this host's list too."""

    def dequeue(self):
        mine = (host_queue(process.host()), self.list_key)
        rows = self.get_connection().filter(key__in=mine, lock__lt=timezone.now())
        taken = []
        for task in rows[:Conf.BULK]:
            # As django-q2 does: the row is ours only if nobody moved its lock since we read it.
            if self.get_connection().filter(id=task.id, lock=task.lock).update(lock=self.timeout(task)):
                taken.append((task.pk, task.payload))
        if taken:
            return taken
        sleep(Conf.POLL)  # an empty queue: spare the database
        return None


class HostRedis(Redis):
    """Redis as the broker, reading this host's list too (one BLPOP over both, this host's first)."""

    def dequeue(self):
        task = self.connection.blpop([f"django_q:{host_queue(process.host())}:q", self.list_key], 1)
        return [(None, task[1])] if task else None

