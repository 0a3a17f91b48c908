"""django-q2 task entry points: load by id, call one service. Nothing else here."""

from backups_app.services import dump


def run_backup(record_id: int) -> str:
    record = dump.backup_execute(record_id=record_id)
    return record.status
