from backups_app.models.backups import BackupFormat, BackupRecord, BackupStatus, BackupType
from backups_app.models.jobs import JobStatus
from backups_app.models.notifications import Notification, NotificationChannel
from backups_app.models.policies import RetentionPolicy
from backups_app.models.restores import PruneRecord, RestoreRecord, VerificationRecord
from backups_app.models.schedules import BackupSchedule
from backups_app.models.server_runs import ServerRun, ServerRunStatus
from backups_app.models.storage import BackupStorage, OffsiteStatus, StorageKind
from backups_app.models.targets import DatabaseTarget, PasswordSource, TargetKind
from backups_app.models.tokens import ApiToken

__all__ = [
    "ApiToken",
    "BackupFormat",
    "BackupRecord",
    "BackupSchedule",
    "BackupStatus",
    "BackupStorage",
    "BackupType",
    "DatabaseTarget",
    "JobStatus",
    "Notification",
    "NotificationChannel",
    "OffsiteStatus",
    "PasswordSource",
    "PruneRecord",
    "RestoreRecord",
    "RetentionPolicy",
    "ServerRun",
    "ServerRunStatus",
    "StorageKind",
    "TargetKind",
    "VerificationRecord",
]
