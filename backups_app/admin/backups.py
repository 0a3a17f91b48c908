import os

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import formats
from django.utils.html import format_html, format_html_join
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from backups_app import selectors
from backups_app.admin import display
from backups_app.admin.actions import (
    GuardedActionsMixin,
    applying,
    history,
    intermediate_page,
    linked_message,
    object_page,
    too_many,
)
from backups_app.admin.jobs import JobAdminMixin
from backups_app.forms import PinForm, RestoreForm, VerifyForm
from backups_app.models import BackupRecord, BackupStatus
from backups_app.services.jobs import placement, process, queue
from backups_app.services.retention import pins
from backups_app.services.storage import downloads, offsite
from backups_app.services.targets import agreement


class SizeAnomalyFilter(admin.SimpleListFilter):
    title = gettext_lazy("size anomaly")
    parameter_name = "size_anomaly"

    def lookups(self, request, model_admin):
        return [("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(size_anomaly_pct__isnull=self.value() == "no")
        return queryset


@admin.register(BackupRecord)
class BackupRecordAdmin(GuardedActionsMixin, JobAdminMixin, admin.ModelAdmin):
    # The columns that answer at a glance; state, progress and the facts beside it (pinned, verified,
    # offsite, anomaly) share one cell, so the list fits a laptop's screen. Everything else is on its page.
    list_display = ["id", "created_at", "target_cell", "kind_cell", "status_cell", "size", "duration"]
    change_form_template = "admin/backups_app/backuprecord/change_form.html"
    list_display_links = ["id"]
    list_filter = ["status", "backup_type", "format", "encrypted", "target", "offsite_status", "pinned",
                   SizeAnomalyFilter]
    list_select_related = ["target"]
    date_hierarchy = "created_at"
    search_fields = ["path"]
    search_help_text = gettext_lazy("Search by file name.")
    actions = ["restore_backup", "verify_backup", "copy_offsite", "pin_backup", "unpin_backup"]
    readonly_fields = ["status_badge", "status_cell", "progress", "size", "added", "duration", "size_anomaly_pct",
                       "started_by_words", "pruned_words", "extensions_list", "row_counts_list", "job_log",
                       "client_words", "file_where"]
    fieldsets = [
        (None, {"fields": ["target", "server_address", "status_cell", "progress", "backup_type", "format",
                           "created_at", "started_at", "finished_at", "duration", "started_by_words", "requested_by",
                           "schedule", "is_safety_backup"]}),
        (gettext_lazy("File"), {"fields": ["path", "file_where", "size", "added", "size_anomaly_pct", "sha256",
                                           "compression",
                                           "encrypted", "pg_dump_version", "client_words", "server_version",
                                           "globals_path"]}),
        (gettext_lazy("Offsite copy"), {"fields": ["offsite_status", "offsite_storage", "offsite_key",
                                                   "offsite_globals_key", "offsite_at", "offsite_detail",
                                                   "local_removed"]}),
        (gettext_lazy("Verification"), {"fields": ["last_verified_at", "last_verify_ok", "last_verify_detail"]}),
        (gettext_lazy("Legal hold and retention"), {"fields": ["pinned", "pinned_reason", "pinned_by", "pinned_at",
                                                        "pruned_at", "pruned_words", "pruned_by_policy"]}),
        (gettext_lazy("Contents"), {"fields": ["extensions_list", "row_counts_list"], "classes": ["collapse"]}),
        (gettext_lazy("Log of its client programs"), {"fields": ["job_log"], "classes": ["collapse"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(self.fieldsets)
        if obj is not None and obj.status == BackupStatus.SUCCEEDED and self.has_perm(request, "download_backup"):
            fieldsets.insert(1, (gettext_lazy("Download"), {"fields": ["downloads"]}))
        if obj is not None and obj.error:
            return [(gettext_lazy("Error"), {"fields": ["error"]}), *fieldsets]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return ["downloads", *super().get_readonly_fields(request, obj)]

    def get_urls(self):
        download = self.admin_site.admin_view(self.download_view)

        def button(action, post_only=False):
            return self.admin_site.admin_view(lambda request, object_id: object_page(
                self, request, object_id, action, post_only=post_only,
                back=reverse("admin:backups_app_backuprecord_change", args=[object_id])))

        return [path("<int:object_id>/download/<str:part>/", download, name="backups_app_backuprecord_download"),
                path("<int:object_id>/restore/", button("restore_backup"), name="backups_app_backuprecord_restore"),
                path("<int:object_id>/verify/", button("verify_backup"), name="backups_app_backuprecord_verify"),
                path("<int:object_id>/pin/", button("pin_backup"), name="backups_app_backuprecord_pin"),
                path("<int:object_id>/unpin/", button("unpin_backup", post_only=True),
                     name="backups_app_backuprecord_unpin"),
                path("<int:object_id>/copy-offsite/", button("copy_offsite", post_only=True),
                     name="backups_app_backuprecord_copy_offsite"),
                *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        backup = self.get_object(request, object_id)
        buttons = self.buttons(request, backup) if backup is not None else []
        title = _("Backup #%(id)s of %(target)s") % {"id": backup.pk, "target": backup.target.name} if backup else ""
        return super().change_view(request, object_id, form_url,
                                   {**(extra_context or {}), "bc_buttons": buttons, "title": title})

    def buttons(self, request, backup) -> list[dict]:
        """The actions of this backup's page, each where the eye is: Restore, Verify, Pin, Download."""
        actions, found = self.get_actions(request), []

        def add(action, css, label, url_name, post=False):
            if action is None or action in actions:
                found.append({"css": css, "label": label, "post": post,
                              "url": reverse(f"admin:backups_app_backuprecord_{url_name}", args=[backup.pk])})
        if backup.status == BackupStatus.SUCCEEDED:
            add("restore_backup", "bc-restore", _("Restore"), "restore")
            add("verify_backup", "bc-verify", _("Verify"), "verify")
            # Not when only another host has the file: a link that can only be refused is no button.
            if self.has_perm(request, "download_backup") and \
                    not placement.refusal(backup, doing="download", reading=True):
                found.append({"css": "bc-download", "label": _("Download"), "post": False,
                              "url": reverse("admin:backups_app_backuprecord_download", args=[backup.pk, "dump"])})
            if backup.offsite_status == "failed":
                add("copy_offsite", "bc-copy-offsite", _("Copy to object storage again"), "copy_offsite", post=True)
        if backup.status != BackupStatus.PRUNED:
            if backup.pinned:
                add("unpin_backup", "bc-unpin", _("Unpin"), "unpin", post=True)
            else:
                add("pin_backup", "bc-pin", _("Pin"), "pin")
        return found

    def download_view(self, request, object_id, part):
        """A backup's own file (or its roles file), streamed from this host or from object storage, checked."""
        if not self.has_perm(request, "download_backup"):
            raise PermissionDenied
        if part not in ("dump", "globals"):
            raise Http404
        backup = get_object_or_404(BackupRecord, pk=object_id)
        if backup.status != BackupStatus.SUCCEEDED:
            raise Http404(f"backup #{backup.pk} has no file to download: its status is {backup.status}")
        name = os.path.basename(backup.path if part == "dump" else backup.globals_path)
        # Only another host has the file and object storage has no copy: nothing here to send.
        refused = placement.refusal(backup, doing="download", reading=True)
        if not refused:
            try:
                download = downloads.open_file(backup, part=part, on_end=lambda ended: history(
                    self, request, backup, downloaded(download, ended)))
            except offsite.StorageError as exc:
                refused = with_file_host(backup, str(exc))
        if refused:
            history(self, request, backup, _("Download of %(file)s refused: %(reason)s") % {
                "file": name, "reason": refused})
            self.message_user(request, refused, messages.ERROR)
            return redirect("admin:backups_app_backuprecord_change", backup.pk)
        response = StreamingHttpResponse(download.chunks, content_type="application/octet-stream")
        response["Content-Length"] = str(download.size)
        response["Content-Disposition"] = content_disposition_header(True, download.filename)
        return response

    @admin.display(description=gettext_lazy("files"))
    def downloads(self, obj):
        if elsewhere := placement.refusal(obj, doing="download", reading=True):
            return elsewhere  # no link that can only be refused
        parts = [("dump", obj.path), ("globals", obj.globals_path)]
        # No `download` attribute: with it a browser saves a refusal's page as the file, and shows no message.
        return format_html_join(" · ", '<a href="{}">{}</a>', (
            (reverse("admin:backups_app_backuprecord_download", args=[obj.pk, part]), os.path.basename(name))
            for part, name in parts if name))

    @admin.display(description=gettext_lazy("target"), ordering="target__name")
    def target_cell(self, obj):
        return format_html('{}<span class="bc-server">{}</span>', obj.target.name, display.address(obj.server_address))

    @admin.display(description=gettext_lazy("type"), ordering="backup_type")
    def kind_cell(self, obj):
        return f"{obj.get_backup_type_display()} · {obj.format_short}"

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def status_cell(self, obj):
        place = selectors.file_place(obj) if obj.status == BackupStatus.SUCCEEDED else None
        return display.status_cell(obj, place=place)

    @admin.display(description=gettext_lazy("started by"))
    def started_by_words(self, obj):
        return display.started_by(obj)

    @admin.display(description=gettext_lazy("pruned because"))
    def pruned_words(self, obj):
        return display.pruned_reason(obj)

    @admin.display(description=gettext_lazy("extensions"))
    def extensions_list(self, obj):
        return ", ".join(f"{name} {version}" for name, version in sorted((obj.extensions or {}).items())) or "-"

    @admin.display(description=gettext_lazy("row counts"))
    def row_counts_list(self, obj):
        rows = sorted((obj.row_counts or {}).items())
        if not rows:
            return "-"
        counted = ((name, formats.number_format(n, force_grouping=True)) for name, n in rows)
        return format_html("<table>{}</table>", format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", counted))

    @admin.display(description=gettext_lazy("client program"))
    def client_words(self, obj):
        return display.client_program(obj.client)

    @admin.display(description=gettext_lazy("log"))
    def job_log(self, obj):
        return format_html('<pre class="bc-log">{}</pre>', obj.log) if obj.log else "-"

    @admin.display(description=gettext_lazy("offsite"), ordering="offsite_status")
    def offsite(self, obj):
        if not obj.offsite_status:
            return ""
        return format_html('<span class="bc-offsite bc-offsite-{}" title="{}">{}</span>', obj.offsite_status,
                           obj.offsite_detail, obj.get_offsite_status_display())

    @admin.display(description=gettext_lazy("format"), ordering="format")
    def format_short(self, obj):
        return display.format_short(obj)

    @admin.display(description=gettext_lazy("size"), ordering="size_bytes")
    def size(self, obj):
        return display.human_size(obj.size_bytes)

    @admin.display(description=gettext_lazy("added to BACKUP_ROOT"))
    def added(self, obj):
        """What this backup added: a directory backup's files no earlier backup had stored, and its manifest."""
        return display.human_size(obj.bytes_added) if obj.bytes_added is not None else gettext_lazy("not known")

    @admin.display(description=gettext_lazy("where the file is"))
    def file_where(self, obj):
        return display.where_in_words(selectors.file_place(obj), process.host())

    @admin.display(description=gettext_lazy("progress / result"))
    def progress(self, obj):
        if obj.status == BackupStatus.SUCCEEDED:
            return display.file_cell(os.path.basename(obj.path), selectors.file_place(obj))
        if obj.status == BackupStatus.PRUNED:
            return display.pruned_reason(obj)
        return display.live_progress(obj)

    @admin.display(description=gettext_lazy("notes"))
    def notes(self, obj):
        labels = []
        if obj.pinned:
            labels.append(_("pinned"))
        if obj.is_safety_backup:
            labels.append(_("safety backup"))
        if obj.last_verify_ok is not None:
            labels.append(_("verified") if obj.last_verify_ok else _("verification failed"))
        if obj.offsite_status == "failed":
            labels.append(_("offsite: failed"))
        if obj.size_anomaly_pct is not None:
            labels.append(_("size anomaly: %(pct)+.0f%% vs. median") % {"pct": obj.size_anomaly_pct})
        return format_html('<span class="bc-notes">{}</span>', ", ".join(labels))

    def has_run_restore_permission(self, request):
        return self.has_perm(request, "run_restore")

    def has_run_backup_permission(self, request):
        return self.has_perm(request, "run_backup")

    def _refuse_unfinished(self, request, queryset, message: str) -> list[BackupRecord]:
        """The succeeded backups of the selection; says which others were left alone and why."""
        usable, refused = [], []
        for backup in queryset.select_related("target").order_by("pk"):
            (usable if backup.status == BackupStatus.SUCCEEDED else refused).append(backup)
        if refused:
            listed = ", ".join(f"#{b.pk} ({b.get_status_display()})" for b in refused)
            self.message_user(request, message % {"list": listed}, messages.ERROR)
        return usable

    @admin.action(description=gettext_lazy("Restore the backup"), permissions=["run_restore"])
    def restore_backup(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one backup to restore."), messages.ERROR)
            return None
        usable = self._refuse_unfinished(
            request, queryset, _("Only succeeded backups can be restored; left alone: %(list)s."))
        if not usable:
            return None
        return restore_page(self, request, queryset, usable[0])

    @admin.action(description=gettext_lazy("Verify the backup"), permissions=["run_backup"])
    def verify_backup(self, request, queryset):
        if too_many(self, request, queryset):
            return None
        usable = self._refuse_unfinished(
            request, queryset, _("Only succeeded backups can be verified; left alone: %(list)s."))
        if not usable:
            return None
        form = VerifyForm(request.POST if applying(request) else None)
        if not form.is_valid():
            return intermediate_page(
                self, request, queryset=usable, form=form, describe=display.describe_backup,
                action="verify_backup", title=_("Verify backups"),
                intro=_("Each backup's checksum is recomputed and its archive read to the end."),
            )
        self._queue_verifications(request, usable, drill=form.cleaned_data["drill"])
        return None

    def _queue_verifications(self, request, backups, *, drill: bool):
        from backups_app.services.verify import verify

        queued = []
        with transaction.atomic():
            for backup in backups:
                try:
                    record = verify.verify_create(backup=backup, drill=drill,
                                                  started_by=request.user.get_username(), requested_by=request.user)
                except verify.VerifyRefused as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                    continue
                host = queue.enqueue_verify(record)
                message = _("Queued verification #%(id)s with a restore drill.") if drill \
                    else _("Queued verification #%(id)s.")
                history(self, request, backup, message % {"id": record.pk})
                history(self, request, record, message % {"id": record.pk}, added=True)
                queued.append(queued_item(backup, host, job=record))
        if queued:
            self.message_user(request, linked_message(ngettext(
                "Queued the verification of %(n)d backup: %(list)s.",
                "Queued the verification of %(n)d backups: %(list)s.", len(queued),
            ), n=len(queued), list=listed(queued)), messages.SUCCESS)

    @admin.action(description=gettext_lazy("Copy to object storage (again)"), permissions=["run_backup"])
    def copy_offsite(self, request, queryset):
        """Queue the upload of backups whose offsite copy failed, or that were made before their target had one."""
        from backups_app.services.backups import copy_offsite as copying

        if too_many(self, request, queryset):
            return None
        queued = []
        with transaction.atomic():
            for backup in queryset.select_related("target", "offsite_storage").order_by("pk"):
                # The worker of the host that has the file reads it through before uploading.
                why = copying.refusal(backup, read_file=False, queued=True)
                if why:
                    self.message_user(request, why, messages.ERROR)
                    continue
                host = queue.enqueue_copy_offsite(backup)
                history(self, request, backup, _("Queued a copy to object storage."))
                queued.append(queued_item(backup, host, page=reverse("admin:backups_app_backuprecord_change",
                                                                     args=[backup.pk])))
        if queued:
            self.message_user(request, linked_message(ngettext(
                "Queued the copy of %(n)d backup to object storage: %(list)s.",
                "Queued the copy of %(n)d backups to object storage: %(list)s.", len(queued),
            ), n=len(queued), list=listed(queued)), messages.SUCCESS)
        return None

    @admin.action(description=gettext_lazy("Pin (legal hold: never prune)"), permissions=["change"])
    def pin_backup(self, request, queryset):
        if too_many(self, request, queryset):
            return None
        form = PinForm(request.POST if applying(request) else None)
        if not form.is_valid():
            return intermediate_page(
                self, request, queryset=queryset.select_related("target"), form=form, action="pin_backup",
                title=_("Pin backups"), describe=display.describe_backup,
                intro=_("Pinned backups are never deleted by any retention policy until they are unpinned."),
            )
        done = []
        for backup in queryset.order_by("pk"):
            try:
                pins.backup_pin(backup=backup, reason=form.cleaned_data["reason"],
                                pinned_by=request.user.get_username())
            except pins.PinRefused as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            history(self, request, backup, _("Pinned: %(reason)s") % {"reason": backup.pinned_reason})
            done.append(f"#{backup.pk}")
        if done:
            self.message_user(request, _("Pinned %(list)s.") % {"list": ", ".join(done)}, messages.SUCCESS)
        return None

    @admin.action(description=gettext_lazy("Unpin (lift the legal hold)"), permissions=["change"])
    def unpin_backup(self, request, queryset):
        done = []
        for backup in queryset.filter(pinned=True).order_by("pk"):
            reason = backup.pinned_reason
            pins.backup_unpin(backup=backup)
            history(self, request, backup, _("Unpinned (it was pinned because: %(reason)s)") % {"reason": reason})
            done.append(f"#{backup.pk}")
        if done:
            self.message_user(request, _("Unpinned %(list)s.") % {"list": ", ".join(done)}, messages.SUCCESS)
        else:
            self.message_user(request, _("None of the selected backups was pinned."), messages.WARNING)
        return None


def downloaded(download, ended) -> str:
    """The history's line for a download that ended: whole and checked, cut off and why, or stopped by the client."""
    words = {"file": download.filename, "source": download.source, "sent": ended.sent, "size": download.size}
    if ended.problem:
        return _("Download of %(file)s (from %(source)s) cut off after %(sent)s of %(size)s bytes: %(reason)s") % {
            **words, "reason": ended.problem}
    if not ended.complete:
        return _("Download of %(file)s (from %(source)s) stopped by the client after %(sent)s of %(size)s "
                 "bytes") % words
    checked = {downloads.AGAINST_RECORD: _("its sha256 matches the record"),
               downloads.AGAINST_LABEL: _("its sha256 matches its object's label"),
               downloads.UNCHECKED: _("no checksum is recorded for it")}[download.check]
    return _("Downloaded %(file)s (from %(source)s); %(checked)s") % {**words, "checked": checked}


def with_file_host(backup, reason: str) -> str:
    """A download refused from object storage (or this host) also says which other host has the file, if one does."""
    elsewhere = placement.refusal(backup, doing="download", reading=False)
    return f"{reason}; {elsewhere}" if elsewhere else reason


def queued_item(backup, host: str, job=None, page: str = ""):
    """A backup in the list of what was queued, linked to its job (or, with no job row, the page that shows how it
    went), with the host that runs it when only one can (it has the file)."""
    name = display.job_link(job, f"#{backup.pk}") if job is not None else \
        format_html('<a href="{}">#{}</a>', page, backup.pk) if page else f"#{backup.pk}"
    if not host:
        return name
    return linked_message(_("%(id)s (on host %(host)s)"), id=name, host=host)


def listed(items):
    return format_html_join(", ", "{}", ((item,) for item in items))


def restore_page(modeladmin, request, queryset, backup):
    """restore_backup's form; on a valid submission, one queued restore."""
    from backups_app.services.restores import checks, restore

    form = RestoreForm(request.POST if applying(request) else None, tables=checks.tables_in(backup),
                       initial={"into": restore.default_database_name(backup), "jobs": 1})
    if form.is_valid():
        try:
            record, host = queue_restore(modeladmin, request, backup, form.cleaned_data)
        except restore.RestoreRefused as exc:
            form.add_error(None, str(exc))
        else:
            words = {"id": display.job_link(record, str(record.pk)), "backup": backup.pk,
                     "address": record.server_address, "host": host}
            modeladmin.message_user(request, linked_message(_(
                "Queued restore #%(id)s of backup #%(backup)s into %(address)s (on host %(host)s)."
            ) if host else _(
                "Queued restore #%(id)s of backup #%(backup)s into %(address)s."
            ), **words), messages.SUCCESS)
            return None
    return intermediate_page(
        modeladmin, request, queryset=queryset, form=form, action="restore_backup",
        title=_("Restore backup #%(id)s") % {"id": backup.pk}, backup=backup,
        template="admin/backups_app/backuprecord/restore_backup.html",
        taken_from=backup.server_address or backup.target.name, restores_on=agreement.server(backup.target),
        disagreement=agreement.mismatch(backup.target),
    )


def queue_restore(modeladmin, request, backup, data):
    from backups_app.services.restores import restore

    with transaction.atomic():
        record = restore.restore_create(
            backup=backup, into=data["into"], tables=tuple(data["tables"]), overwrite=data["overwrite"],
            with_globals=data["with_globals"], jobs=data["jobs"], force=data["force"], server=data["server"],
            no_owner=data["no_owner"] or None, no_acl=data["no_acl"] or None,
            terminate_connections=data.get("terminate_connections", False),
            started_by=request.user.get_username(), requested_by=request.user,
        )
        host = queue.enqueue_restore(record)
        message = (_("Queued restore #%(id)s into database %(into)s, overwriting it.") if record.overwrite
                   else _("Queued restore #%(id)s into database %(into)s.")) % {
            "id": record.pk, "into": record.target_database}
        history(modeladmin, request, backup, message)
        history(modeladmin, request, record, message, added=True)
    return record, host
