"""The safety backup taken of a database just before a restore overwrites it."""

from django.utils.text import slugify

from backups_app.models import BackupStatus, DatabaseTarget, RestoreRecord
from backups_app.services.backups import dump
from backups_app.services.postgres.client import RestoreFailed


def take(record: RestoreRecord):
    """Back up the database about to be replaced (type manual, marked as a safety backup).

    The restore already holds the server's lock, so a backup of that same
    target runs inside it instead of waiting for it.
    """
    target = target_for(record.server, record.target_database)
    backup = dump.backup_create(
        target=target, backup_type="manual", fmt="custom", started_by=f"safety backup before restore #{record.pk}",
        requested_by=record.requested_by, is_safety_backup=True,
    )
    RestoreRecord.objects.filter(pk=record.pk).update(safety_backup=backup)
    record.safety_backup = backup
    if target.pk == record.server.pk:
        backup = dump.backup_execute_locked(record_id=backup.pk)
    else:
        backup = dump.backup_execute(record_id=backup.pk)
    record.safety_backup = backup
    if backup.status != BackupStatus.SUCCEEDED:
        raise RestoreFailed(
            f"the safety backup of {record.target_database} failed, so nothing was overwritten: {backup.error}"
        )
    return backup


def target_for(server: DatabaseTarget, dbname: str) -> DatabaseTarget:
    """The target that backs up `dbname` on the restore's server; created (inactive) when none does."""
    if dbname == server.dbname:
        return server
    same = DatabaseTarget.objects.filter(host=server.host, port=server.port, dbname=dbname, user=server.user)
    found = same.order_by("pk").first()
    if found:
        return found
    base = slugify(f"{server.name}-{dbname}")[:90] or "restored"
    name, n = base, 1
    while DatabaseTarget.objects.filter(name=name).exists():
        n += 1
        name = f"{base}-{n}"
    return DatabaseTarget.objects.create(
        name=name, host=server.host, port=server.port, dbname=dbname, user=server.user,
        password_source=server.password_source, password_env=server.password_env,
        service_name=server.service_name, is_active=False, encrypt=server.encrypt, age_recipients=server.age_recipients,
        for_safety_backups=True,
        notes=f"Created for the safety backups taken before restores into {dbname} on {server.name}.",
    )
