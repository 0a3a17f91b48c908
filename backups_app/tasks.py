"""django-q2 task entry points: load by id, call one service. Nothing else here.

Every function here is named by a dotted path string somewhere (queue.py,
Schedule rows); tests assert that each such path resolves.
"""


def run_backup(record_id: int) -> str:
    from backups_app.services.backups import dump
    from backups_app.services.jobs import queue

    return queue.run_in_turn("run_backup", record_id, dump.backup_execute)


def run_server_backup(record_id: int) -> str:
    """A server target's run: each of its databases backed up (services/backups/server_run.py)."""
    from backups_app.services.backups import server_run
    from backups_app.services.jobs import queue

    return queue.run_in_turn("run_server_backup", record_id, server_run.run_execute)


def run_restore(record_id: int) -> str:
    from backups_app.services.jobs import queue
    from backups_app.services.restores import restore

    return queue.run_in_turn("run_restore", record_id, restore.restore_execute)


def run_verify(record_id: int) -> str:
    from backups_app.services.jobs import queue
    from backups_app.services.verify import verify

    return queue.run_in_turn("run_verify", record_id, verify.verify_execute)


def copy_offsite(record_id: int) -> str:
    from backups_app.services.backups import copy_offsite as copying

    return copying.copy_queued(record_id=record_id)


def run_prune(policy_id: int, started_by: str = "") -> str:
    from backups_app.services.retention import prune as pruning

    return pruning.prune_policy(policy_id=policy_id, started_by=started_by).summary()


def run_prune_job(record_id: int) -> str:
    from backups_app.services.retention import prune as pruning

    return pruning.prune_task(record_id=record_id)


def run_schedule_now(schedule_id: int, record_id: int | None = None) -> str:
    """A schedule's run asked for by a person, outside its times."""
    from backups_app.services.scheduled import run as scheduled

    return scheduled.run_now(schedule_id=schedule_id, record_id=record_id)


def run_prune_here(policy_id: int | None, target_id: int | None, backup_type: str, started_by: str = "") -> str:
    """What a prune on another host left to this one (its local files)."""
    from backups_app.services.retention import prune as pruning

    return pruning.prune_here(policy_id=policy_id, target_id=target_id, backup_type=backup_type,
                              started_by=started_by).summary()


def run_scheduled_backup(schedule_id: int, intended: str | None = None) -> str:
    """`intended`: the time the run was meant for, passed by django-q2 (Schedule.intended_date_kwarg)."""
    from backups_app.services.scheduled import run as scheduled

    return scheduled.run_scheduled(schedule_id=schedule_id, intended=intended)


def reap_lost_jobs() -> int:
    from backups_app.services.jobs import recovery

    return recovery.reap_lost()
