from backups_app.models.backups import BackupRecord, BackupStatus, BackupType, BackupFormat
from backups_app.models.policies import RetentionPolicy
from backups_app.models.restores import RestoreRecord, VerificationRecord, JobStatus
from backups_app.models.schedules import BackupSchedule
from backups_app.models.targets import DatabaseTarget, PasswordSource

__all__ = [
    "BackupFormat",
    "BackupRecord",
    "BackupSchedule",
    "BackupStatus",
    "BackupType",
    "DatabaseTarget",
    "JobStatus",
    "PasswordSource",
    "RestoreRecord",
    "RetentionPolicy",
    "VerificationRecord",
]
