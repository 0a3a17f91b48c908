"""What the API reads and answers, as pydantic schemas (they make the OpenAPI document), and the records put
into them."""

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field, field_validator, model_validator

from backups_app import selectors
from backups_app.models import BackupFormat, BackupType

BackupTypeName = Literal[tuple(BackupType.values)]  # type: ignore[valid-type]
FormatName = Literal[tuple(BackupFormat.values)]  # type: ignore[valid-type]
StatusName = Literal["queued", "running", "succeeded", "failed", "pruned"]
JobKind = Literal["backup", "restore", "verification", "server_run"]
MAX_ID = 2**63 - 1  # the largest id a record can have (BigAutoField)


def _printable(text: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError("control characters are not allowed")
    return text


class Error(Schema):
    error: str = Field(description="What went wrong, in one line.")


class ValidationFailed(Error):
    detail: list[dict[str, Any]] = Field(description="Each field that was refused, and why.")


class TargetOut(Schema):
    name: str
    kind: Literal["database", "server"]
    server: str | None = Field(description="For a database found on a server target: that server target.")
    database: str | None = Field(description="The database (for a server target: the one it lists the others "
                                             "from).")
    host: str
    port: int
    active: bool
    dropped_at: datetime | None = Field(description="When its server target's run no longer found it.")


class BackupOut(Schema):
    id: int
    target: str
    server: str | None
    database: str
    type: str
    format: str
    status: str
    restorable: bool = Field(description="Succeeded, not failed its latest verification, its file present.")
    size_bytes: int | None
    sha256: str | None
    encrypted: bool
    pinned: bool
    pinned_reason: str
    last_verified_at: datetime | None
    last_verify_ok: bool | None
    created_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    path: str | None = Field(description="Relative to BACKUP_ROOT.")
    offsite: str | None
    server_run: int | None
    error: str


class BackupList(Schema):
    count: int
    limit: int
    offset: int
    items: list[BackupOut]


class JobOut(Schema):
    kind: JobKind
    id: int
    status: str = Field(description="queued, running, succeeded, failed (a server run also partly_failed).")
    done: bool = Field(description="The job has ended; status says how.")
    ok: bool | None = Field(description="Whether it succeeded; null while it runs.")
    target: str | None
    database: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    bytes_written: int | None = Field(description="A backup's progress: bytes written so far.")
    error: str
    result: dict[str, Any] = Field(description="What the job produced: a backup's file, a restore's rows, a "
                                               "verification's checks, a server run's databases.")
    url: str
    wait_url: str


class Input(Schema):
    """A request body: a JSON object, nothing else (a list or a number is refused, not read as empty)."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data):
        # django-ninja hands its schemas the parsed JSON wrapped (to read model attributes too): look inside.
        if not isinstance(getattr(data, "_obj", data), dict):
            raise ValueError("the body must be a JSON object")
        return data


class BackupIn(Input):
    type: BackupTypeName = "manual"
    format: FormatName = "custom"


class VerifyIn(Input):
    drill: bool = Field(False, description="Also restore into a scratch database, check every table, drop it.")


class PinIn(Input):
    reason: str = Field(min_length=1, max_length=255, description="Why it must be kept, e.g. a ticket number.")

    _printable = field_validator("reason")(_printable)


class RestoreIn(Input):
    into: str = Field(min_length=1, max_length=63, description="The database to restore into.")
    server: str | None = Field(None, max_length=100, description="The target whose server to restore onto; "
                                                                 "default the backup's own.")
    tables: list[str] = Field(default_factory=list, max_length=1000,
                              description="Only these tables, SCHEMA.TABLE each.")
    overwrite: bool = False
    with_globals: bool = Field(False, description="Create the backup's roles and tablespaces first.")
    jobs: int = Field(1, ge=1, le=16, description="Tables restored at once (custom archives).")
    force: bool = Field(False, description="Restore even if its verification failed.")
    no_owner: bool = False
    no_acl: bool = False
    terminate_connections: bool = False

    _printable = field_validator("into", "server")(lambda v: v if v is None else _printable(v))

    @field_validator("tables")
    @classmethod
    def _tables(cls, value: list[str]) -> list[str]:
        for table in value:
            if len(table) > 300:
                raise ValueError("a table name has at most 300 characters")
            _printable(table)
        return value



def target_out(target) -> dict:
    return {"name": target.name, "kind": target.kind, "server": target.server.name if target.server_id else None,
            "database": target.dbname, "host": target.host, "port": target.port, "active": target.is_active,
            "dropped_at": target.dropped_at}


def backup_out(record) -> dict:
    target = record.target
    return {
        "id": record.pk, "target": target.name, "server": target.server.name if target.server_id else None,
        "database": target.dbname, "type": record.backup_type, "format": record.format, "status": record.status,
        "restorable": record.status == "succeeded" and not selectors.unrestorable_reason(record),
        "size_bytes": record.size_bytes, "sha256": record.sha256 or None, "encrypted": record.encrypted,
        "pinned": record.pinned, "pinned_reason": record.pinned_reason, "last_verified_at": record.last_verified_at,
        "last_verify_ok": record.last_verify_ok, "created_at": record.created_at, "finished_at": record.finished_at,
        "duration_seconds": record.duration_seconds, "path": record.path or None,
        "offsite": record.offsite_status or None, "server_run": record.server_run_id, "error": record.error,
    }


