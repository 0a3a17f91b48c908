"""`manage.py backup`: the original backup script's command line, kept exactly."""

import json
import logging
from collections import Counter

from django.conf import settings
from django.core.management.base import CommandError, no_translations
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from humanize import naturalsize

from backups_app import selectors
from backups_app.management.cli import (
    MAX_DAYS,
    MAX_HOURS,
    OPERATIONAL_CHECKS,
    READING_CHECKS,
    ConsoleCommand,
    in_range,
    one_line,
    quiet_log,
    recover_first,
    waiting_reporter,
)
from backups_app.models import BackupFormat, BackupRecord, BackupStatus, BackupType, DatabaseTarget, OffsiteStatus
from backups_app.services.backups import dump
from backups_app.services.jobs import process, stopping
from backups_app.services.monitoring import health
from backups_app.services.retention import orphans
from backups_app.services.retention import plan as retention
from backups_app.services.retention import prune as pruning
from backups_app.services.storage import layout, local_store, offsite_prune, store_sweep
from backups_app.services.targets import agreement
from backups_app.services.targets.lookup import UnknownTarget, get_target

TYPES = [t.value for t in BackupType]
# `backup` exits non-zero when its copy to object storage ended in one of these (docs/schedules.md).
OFFSITE_NOT_DONE = (OffsiteStatus.FAILED, OffsiteStatus.UPLOADING)
# `backup --check`: the first word of each target's line.
CHECK_LABELS = {health.OK: "ok", health.STALE: "STALE", health.DAMAGED: "BAD", health.OFFSITE_FAILED: "OFFSITE"}


class Command(ConsoleCommand):
    help = _("Create, list or clean up backups of a database target.")
    requires_system_checks = OPERATIONAL_CHECKS

    def add_arguments(self, parser):
        parser.add_argument("--type", choices=TYPES, help=_("backup type (default manual; all for --list/--cleanup)"))
        parser.add_argument("--format", choices=[f.value for f in BackupFormat], default=BackupFormat.CUSTOM,
                            help=_("custom (one archive), sql (compressed script) or directory (a folder, "
                                   "dumped several tables at once; see --jobs)"))
        parser.add_argument("--jobs", type=int, default=None,
                            help=_("with --format directory: tables dumped at once (default BACKUP_DUMP_JOBS)"))
        parser.add_argument("--target", default=None,
                            help=_("target name (backup: default, the DB_* target; list/cleanup/check: all)"))
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--list", action="store_true", help=_("list backups, newest first"))
        action.add_argument("--cleanup", action="store_true", help=_("delete backups older than --keep-days"))
        action.add_argument("--check", action="store_true",
                            help=_("exit non-zero when a target is not healthy: no recent restorable backup, the "
                                   "newest failed its verification, or a copy to object storage failed"))
        action.add_argument("--adopt", action="store_true",
                            help=_("give the backup files under BACKUP_ROOT and in object storage that no record "
                                   "knows a record again (after the console's database was lost, or files of "
                                   "the old script); each is read to the end first"))
        action.add_argument("--copy-offsite", type=int, metavar="BACKUP_ID",
                            help=_("upload this backup to object storage again (after a failed upload, or one "
                                   "made before its target had a storage)"))
        parser.add_argument("--json", action="store_true", help=_("with --list: print JSON"))
        parser.add_argument("--keep-days", type=int, default=None,
                            help=_("with --cleanup: days to keep, 1 to 36525 (default BACKUP_KEEP_DAYS, 30)"))
        parser.add_argument("--dry-run", action="store_true",
                            help=_("with --cleanup or --adopt: only say what would be done"))
        parser.add_argument("--orphans", action="store_true",
                            help=_("with --list: files under BACKUP_ROOT/database that no record knows"))
        parser.add_argument("--max-age-hours", type=float, default=None,
                            help=_("with --check: allowed age of every target, at most 876000 (default: its schedule)"))

    def execute(self, *args, **options):
        if options.get("list") or options.get("check"):
            # Only reading: a BACKUP_ROOT this user cannot write (a mounted copy, another user's) is fine.
            self.requires_system_checks = READING_CHECKS
        return super().execute(*args, **options)

    @no_translations  # the command line speaks English, like its options and errors; cron logs stay stable
    def handle(self, *args, **opts):
        in_range(opts["keep_days"], "--keep-days", 1, MAX_DAYS)
        in_range(opts["max_age_hours"], "--max-age-hours", 0, MAX_HOURS, above=True)
        recover_first(self, opts["verbosity"])
        try:
            if opts["check"] or opts["list"]:
                self.warn_of_disagreement()
            if opts["check"]:
                return self.check_freshness(opts)
            if opts["list"] and opts["orphans"]:
                return self.list_orphans(opts)
            if opts["list"]:
                return self.list(opts)
            if opts["cleanup"]:
                return self.cleanup(opts)
            if opts["adopt"]:
                with quiet_log(opts["verbosity"]):
                    return self.adopt(opts)
            if opts["copy_offsite"] is not None:
                with quiet_log(opts["verbosity"]):
                    return self.copy_offsite(opts)
            with quiet_log(opts["verbosity"], below=logging.CRITICAL):  # a failed upload is our own line
                return self.create(opts)
        except (UnknownTarget, agreement.Disagreement) as exc:
            raise CommandError(str(exc)) from None

    def warn_of_disagreement(self) -> None:
        """Work that only reads records goes on when DB_* here disagree with the default target, and says so."""
        note = agreement.warning(agreement.default_target_or_none())
        if note:
            self.stderr.write(note)

    def create(self, opts):
        if opts["jobs"] is not None and not (opts["format"] == BackupFormat.DIRECTORY and 1 <= opts["jobs"] <= 64):
            raise CommandError("--jobs needs --format directory and a number from 1 to 64")
        target = get_target(opts["target"] or "default")
        if target.is_server:
            return self.create_server_run(target, opts)
        record = dump.backup_create(
            target=target, backup_type=opts["type"] or BackupType.MANUAL, fmt=opts["format"],
            started_by="command line",
        )
        record = stopping.run_here(dump.backup_execute, record, dump_jobs=opts["jobs"], on_wait=waiting_reporter(self))
        if record.status != BackupStatus.SUCCEEDED:
            raise CommandError(f"backup #{record.pk} failed: {record.error}")
        size = naturalsize(record.size_bytes, binary=True)
        done = f"{record.absolute_path} {size} in {record.duration_seconds:.1f}s"
        if record.offsite_status in OFFSITE_NOT_DONE:
            # The backup is good here, but on this host only: cron must see it.
            self.stdout.write(done)
            raise CommandError(f"backup #{record.pk} succeeded but was not copied to object storage: "
                               + one_line(record.offsite_detail))
        return done

    def create_server_run(self, target, opts):
        """Every database of a server target, each its own backup; one line each as it ends, then the run's."""
        from backups_app.services.backups import server_run

        run = server_run.run_create(target=target, backup_type=opts["type"] or BackupType.MANUAL,
                                    fmt=opts["format"], started_by="command line")
        run = stopping.run_here(server_run.run_execute, run, dump_jobs=opts["jobs"], on_wait=waiting_reporter(self),
                                on_database=self.database_line)
        line = server_run.summary(run)
        not_offsite = run.backups.filter(status=BackupStatus.SUCCEEDED, offsite_status__in=OFFSITE_NOT_DONE)
        if run.status != "succeeded":
            raise CommandError(line)
        if not_offsite.exists():
            self.stdout.write(line)
            raise CommandError(f"server run #{run.pk}: {not_offsite.count()} backups were not copied to object "
                               "storage: " + ", ".join(f"#{pk}" for pk in not_offsite.values_list("pk", flat=True)))
        return line

    def database_line(self, record) -> None:
        if record.status == BackupStatus.SUCCEEDED:
            size = naturalsize(record.size_bytes, binary=True)
            self.stdout.write(f"ok      {record.target.dbname}: backup #{record.pk} {record.absolute_path} {size} "
                              f"in {record.duration_seconds:.1f}s")
        else:
            self.stdout.write(f"FAILED  {record.target.dbname}: backup #{record.pk}: {record.error}")
        self.stdout.flush()

    def adopt(self, opts):
        from backups_app.services.adoption import adopt, from_storage

        target = get_target(opts["target"]) if opts["target"] else None
        dry = opts["dry_run"]
        local = adopt.adopt_all(target=target, dry_run=dry)
        found = local + from_storage.adopt_from_storages(target=target, dry_run=dry, local=local)
        for f in found:
            if f.record is None:
                self.stdout.write(f"left alone    {f.path}: {f.problem}")
                continue
            r = f.record
            made = timezone.localtime(r.created_at).strftime("%Y-%m-%d %H:%M:%S")
            facts = [r.target.name, r.backup_type, r.format, made, naturalsize(r.size_bytes, binary=True), *f.notes]
            done = ("would link" if dry else "linked") if f.linked else ("would adopt" if dry else f"adopted #{r.pk}")
            self.stdout.write(f"{done:<13} {f.path}: " + ", ".join(facts))
        adopted = sum(1 for f in found if f.record is not None and not f.linked)
        linked = sum(1 for f in found if f.linked)
        left = sum(1 for f in found if f.record is None)
        copies = f"; {linked} offsite copies linked" if linked else ""
        if dry:
            return f"Would adopt {adopted} backups{copies}; {left} files left alone (dry run)"
        return f"Adopted {adopted} backups{copies}; {left} files left alone"

    def copy_offsite(self, opts):
        from backups_app.services.backups import copy_offsite as copying

        pk = opts["copy_offsite"]
        record = BackupRecord.objects.select_related("target").filter(pk=pk).first()
        if record is None:
            raise CommandError(f"there is no backup #{pk}")
        if opts["target"] and record.target.name != opts["target"]:
            raise CommandError(f"backup #{pk} is of target '{record.target.name}', not '{opts['target']}'")
        try:
            with stopping.stop_on_signals():
                record = copying.copy_offsite(record)
        except copying.CopyRefused as exc:
            raise CommandError(str(exc)) from None
        except stopping.Interrupted as exc:
            raise CommandError(f"backup #{pk}: the upload was interrupted by {exc}; the local copy is kept") from None
        if record.offsite_status != OffsiteStatus.UPLOADED:
            raise CommandError(f"backup #{pk}: {record.offsite_detail}")
        return f"backup #{pk}: {record.offsite_detail}"

    def list(self, opts):
        target = get_target(opts["target"]) if opts["target"] else None
        records = selectors.backups_list(target=target, backup_type=opts["type"])
        if opts["json"]:
            self.stdout.write(json.dumps([selectors.backup_as_dict(r) for r in records], indent=2))
            return
        rows = [("ID", "TARGET", "TYPE", "FORMAT", "SIZE", "CREATED", "STATUS", "ADDED", "PATH")]
        places = {}
        for r in records:
            size = naturalsize(r.size_bytes, binary=True) if r.size_bytes is not None else "-"
            added = naturalsize(r.bytes_added, binary=True) if r.bytes_added is not None else "-"
            created = timezone.localtime(r.created_at).strftime("%Y-%m-%d %H:%M:%S")
            place = places[r.pk] = selectors.file_place(r)
            rows.append((str(r.pk), r.target.name, r.backup_type, r.format, size, created, r.status, added,
                         (selectors.shown_path(r, place) or "-") + _place_note(place)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            self.stdout.write("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1])
        self.stdout.write(f"{len(rows) - 1} backups" + _places_summary(places.values()) + _store_summary())

    def check_freshness(self, opts):
        targets = _watched(get_target(opts["target"])) if opts["target"] else None
        report = health.health_report(targets=targets, max_age_hours=opts["max_age_hours"])
        for t in report["targets"]:
            self.stdout.write(f"{CHECK_LABELS[t['state']]:<5}  {_named(t)}: {t['problem'] or _relied_on(t)}")
        unhealthy = [_named(t) for t in report["targets"] if not t["ok"]]
        if unhealthy:
            raise CommandError(f"{len(unhealthy)} of {len(report['targets'])} targets are not healthy: "
                               + ", ".join(unhealthy))
        return f"All {len(report['targets'])} targets are healthy: each has a recent restorable backup"

    def list_orphans(self, opts):
        found = orphans.find_orphans()
        if opts["json"]:
            self.stdout.write(json.dumps([o.as_dict() for o in found], indent=2))
            return
        for o in found:
            size = naturalsize(o.size_bytes, binary=True)
            self.stdout.write(f"{layout.absolute(o.path)}  {size}  "
                              f"{timezone.localtime(o.modified):%Y-%m-%d %H:%M}  {o.note}")
        return (f"{len(found)} files under {layout.database_dir()} on this host ({process.host()}) that no record "
                "knows (none deleted)")

    def cleanup(self, opts):
        keep_days = opts["keep_days"]
        if keep_days is None:
            keep_days = in_range(settings.BACKUP_KEEP_DAYS, "BACKUP_KEEP_DAYS", 1, MAX_DAYS)
        target = get_target(opts["target"]) if opts["target"] else None
        fates = retention.plan(
            pruning.candidates_for(target=target, backup_type=opts["type"]),
            retention.Rules(keep_days=keep_days), timezone.now(),
        )
        records = BackupRecord.objects.select_related("target", "offsite_storage").in_bulk([f.id for f in fates])
        refused = {f.id for f in fates if f.delete and not _inside_root(records[f.id])}
        if opts["dry_run"]:
            return self.cleanup_dry_run(fates, records, refused)
        pruned = pruning.prune(fates=[f for f in fates if f.id not in refused], reason_prefix="--cleanup: ",
                               started_by="command line")
        for r in pruned:
            self.stdout.write(f"deleted #{r.pk} {r.path}")
        for pk in sorted(refused):
            self.stdout.write(_describe(records[pk], None, refused, "", ""))
        for host, ids in sorted(pruned.left.items()):
            for pk in ids:
                self.stdout.write(f"kept #{pk}: its local file is on host {host}; run backup --cleanup there")
        for line in store_sweep.sweep_due():
            self.stdout.write(line)
        return f"Deleted {len(pruned)} backups" + _left_note(sum(len(ids) for ids in pruned.left.values()))

    def cleanup_dry_run(self, fates, records, refused) -> str:
        """What --cleanup would do, as prune() does it: a local file on another host is left to that host."""
        left = {f.id: host for f in fates if f.delete and not f.leftover and f.id not in refused
                if (host := pruning.left_to(records[f.id]))}
        for f in sorted(fates, key=lambda f: f.id):
            self.stdout.write(_describe(records[f.id], f, refused, left.get(f.id, ""), "would be "))
        doomed = sum(1 for f in fates if f.delete and f.id not in refused and f.id not in left)
        return f"Would delete {doomed} backups{_left_note(len(left))} (dry run)"


def _left_note(count: int) -> str:
    return f"; {count} left to the hosts that have their files" if count else ""


def _relied_on(facts: dict) -> str:
    """A healthy target's last restorable backup: when it ended, and which host has its file when not this one."""
    host = facts["last_success_host"]
    if not host or host == process.host():
        return facts["last_success"]
    return f"{facts['last_success']} (backup #{facts['last_success_id']}, its file on host {host})"


def _store_summary() -> str:
    files, size = local_store.total_bytes()
    return f"; shared store: {files} files, {naturalsize(size, binary=True)}" if files else ""


def _place_note(place: selectors.Place) -> str:
    """After a succeeded backup's path: where its file is, when it is not simply here."""
    if place.missing:
        return "  (file missing; a copy is in object storage)" if place.offsite else "  (file missing)"
    if place.elsewhere:
        return f"  (on host {place.elsewhere})"
    return "  (only in object storage)" if not place.host and place.offsite else ""


def _places_summary(places) -> str:
    places = list(places)
    missing = sum(1 for p in places if p.missing)
    parts = [f"{missing} files missing under BACKUP_ROOT {layout.root()}"] if missing else []
    elsewhere = Counter(p.elsewhere for p in places if p.elsewhere)
    parts += [f"{n} on host {host}" for host, n in sorted(elsewhere.items())]
    return "".join(f"; {part}" for part in parts)


def _watched(target):
    """The targets --check looks at for --target: a server target's databases, or the target itself."""
    if target.is_server:
        return selectors.monitored_targets().filter(pk__in=selectors.scope_ids(target))
    return DatabaseTarget.objects.filter(pk=target.pk)


def _named(health: dict) -> str:
    """A target in --check's lines; a server target's database says which server and database it is."""
    if health["server"] and health["database"]:
        return f"{health['target']} (database {health['database']} of server {health['server']})"
    return health["target"]


def _inside_root(record) -> bool:
    return not record.path or layout.is_inside_root(record.absolute_path)


def _describe(record, fate, refused, host: str, mood: str) -> str:
    """One backup's line: its fate; host, the other host that alone can delete its local file."""
    created = timezone.localtime(record.created_at).strftime("%Y-%m-%d")
    if record.pk in refused:
        why = "kept: its file is outside BACKUP_ROOT, so it is never deleted"
    elif host:
        why = f"{mood}kept here: its local file is on host {host}; run backup --cleanup there"
    else:
        why = (mood if fate.delete else "") + fate.reason
    deleted = fate is not None and fate.delete and record.pk not in refused and not host
    objects = offsite_prune.objects_to_delete(record) if deleted else []
    files = " ".join([record.path or "-", *objects])
    return f"#{record.pk} {record.target.name} {record.backup_type} {created} {files}: {why}"
