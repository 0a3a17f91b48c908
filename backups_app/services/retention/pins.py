"""Legal hold: a pinned backup is never pruned, whatever the retention policy says."""

from django.utils import timezone
from django.utils.translation import gettext as _

from backups_app.models import BackupRecord, BackupStatus


class PinRefused(Exception):
    pass


def backup_pin(*, backup: BackupRecord, reason: str, pinned_by: str) -> BackupRecord:
    reason = " ".join(reason.split())
    if not reason:
        raise PinRefused(_("a pin needs a reason (for example a ticket number or a legal request)"))
    if backup.status == BackupStatus.PRUNED:
        raise PinRefused(_("backup #%(id)s was already pruned; its file is gone") % {"id": backup.pk})
    backup.pinned, backup.pinned_reason = True, reason[:255]
    backup.pinned_by, backup.pinned_at = pinned_by[:150], timezone.now()
    backup.save(update_fields=["pinned", "pinned_reason", "pinned_by", "pinned_at"])
    return backup


def backup_unpin(*, backup: BackupRecord) -> BackupRecord:
    """Lifts the hold; who lifted it and the old reason belong in the admin history."""
    backup.pinned, backup.pinned_reason, backup.pinned_by, backup.pinned_at = False, "", "", None
    backup.save(update_fields=["pinned", "pinned_reason", "pinned_by", "pinned_at"])
    return backup
