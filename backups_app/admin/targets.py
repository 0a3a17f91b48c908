from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
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
from backups_app.admin.display import human_size
from backups_app.forms import BackupNowForm, DatabaseTargetForm
from backups_app.models import BackupFormat, BackupRecord, BackupType, DatabaseTarget
from backups_app.services.backups import dump, server_run
from backups_app.services.jobs import queue
from backups_app.services.targets import agreement, connection_test, discovery, formats, lookup


class SafetyTargetsFilter(admin.SimpleListFilter):
    """Targets a restore made for its safety backups stay out of the list unless asked for."""

    title = gettext_lazy("made for safety backups")
    parameter_name = "safety"

    def lookups(self, request, model_admin):
        return [("yes", gettext_lazy("Yes")), ("all", gettext_lazy("All"))]

    def choices(self, changelist):
        yield {"selected": self.value() is None, "display": _("No"),
               "query_string": changelist.get_query_string(remove=[self.parameter_name])}
        for value, label in self.lookup_choices:
            yield {"selected": self.value() == value, "display": label,
                   "query_string": changelist.get_query_string({self.parameter_name: value})}

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset
        return queryset.filter(for_safety_backups=self.value() == "yes")


@admin.register(DatabaseTarget)
class DatabaseTargetAdmin(GuardedActionsMixin, admin.ModelAdmin):
    form = DatabaseTargetForm
    list_display = ["name", "what", "address", "last_success", "is_active", "row_actions"]
    list_filter = ["is_active", "kind", "password_source", "encrypt", SafetyTargetsFilter]
    list_select_related = ["server"]
    search_fields = ["name", "host", "dbname"]
    actions = ["backup_now", "test_connection"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "is_active", "notes", "storage"]}),
        (gettext_lazy("Connection"), {"fields": ["host", "port", "dbname", "user"]}),
        (gettext_lazy("Databases of a server target"), {
            "fields": ["include_databases", "exclude_databases"],
            "description": gettext_lazy("Each run lists the server's databases afresh and backs up each one that "
                                        "is not a template, as a target of its own (named server--database) with "
                                        "its own backups, retention and health. SERVER_BACKUP_PARALLEL of them at "
                                        "once; the roles and tablespaces once per run."),
        }),
        (gettext_lazy("Password"), {
            "fields": ["password_source", "password_env", "service_name"],
            "description": gettext_lazy("The console never stores a password: only where to find one when a job runs."),
        }),
        (gettext_lazy("Encryption"), {
            "fields": ["encrypt", "age_recipients"],
            "description": gettext_lazy("Backup files are encrypted with age to these public keys. Restoring and "
                                        "verifying need the private key, which the console reads from "
                                        "BACKUP_AGE_IDENTITY_FILE or the environment, never from here."),
        }),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.server_id:
            fieldsets.insert(1, (gettext_lazy("Found on a server"), {
                "fields": ["server", "dropped_at"],
                "description": gettext_lazy("This database was found by the runs of its server target, which keep "
                                            "its connection, password and encryption settings in step with their "
                                            "own: change them there."),
            }))
        return fieldsets

    def get_urls(self):
        from django.urls import path, reverse

        def backup_now(request, object_id):
            if request.method == "POST" and "quick" in request.GET:
                return self.backup_now_quickly(request, object_id)
            return object_page(self, request, object_id, "backup_now",
                               back=reverse("admin:backups_app_databasetarget_changelist"))
        return [path("<int:object_id>/backup-now/", self.admin_site.admin_view(backup_now),
                     name="backups_app_databasetarget_backup_now"), *super().get_urls()]

    def get_readonly_fields(self, request, obj=None):
        # The default target follows DB_*: a change here would be undone at the next start.
        if lookup.is_from_environment(obj):
            return [*super().get_readonly_fields(request, obj), *lookup.FROM_ENVIRONMENT]
        # A server's database takes its settings from the server target at every run.
        if obj is not None and obj.server_id:
            return [*super().get_readonly_fields(request, obj), *discovery.FOUND_READONLY]
        return super().get_readonly_fields(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            self._say_disagreement(request, self.get_object(request, object_id))
        return super().change_view(request, object_id, form_url, extra_context)

    def _say_disagreement(self, request, target) -> None:
        if not agreement.differences(target):
            return
        recorded, here = agreement.both(target)
        self.message_user(request, _(
            "Target %(name)s names %(recorded)s, but DB_* in the web server's environment name %(here)s. "
            "Backups, restores, drills and pruning of it are refused where they disagree. If DB_* are right, "
            "run: manage.py default_target --adopt-environment; if the target is, fix DB_*."
        ) % {"name": target.name, "recorded": recorded, "here": here},
            messages.WARNING)

    def get_queryset(self, request):
        # The last restorable backup walking the created_at index: a GROUP BY over all backups
        # took half a second at 100,000 records.
        newest = BackupRecord.objects.filter(selectors.restorable_q(), target=OuterRef("pk")).order_by(
            "-created_at").values("finished_at")[:1]
        return super().get_queryset(request).annotate(last_success_at=Subquery(newest))

    @admin.display(description=gettext_lazy("database and server"), ordering="host")
    def address(self, obj):
        if obj.is_server:
            return f"{obj.host}:{obj.port}"
        return display.server_of(obj)

    @admin.display(description=gettext_lazy("actions"))
    def row_actions(self, obj):
        if not obj.is_active or "backup_now" not in self._actions_here:
            return ""
        return backup_now_button(obj)

    def changelist_view(self, request, extra_context=None):
        self._actions_here = set(self.get_actions(request))
        # Made from DB_* when missing; never moved off the server its backups came from (agreement.py).
        self._say_disagreement(request, lookup.sync_default())
        return super().changelist_view(request, extra_context)

    @admin.display(description=gettext_lazy("backs up"), ordering="kind")
    def what(self, obj):
        if obj.is_server:
            return _("every database of the server")
        if obj.server_id:
            gone = _(" (dropped)") if obj.dropped_at else ""
            return _("database %(db)s of %(server)s%(gone)s") % {"db": obj.dbname, "server": obj.server.name,
                                                                  "gone": gone}
        return _("one database")

    @admin.display(description=gettext_lazy("last good backup"), ordering="last_success_at",
                   empty_value=gettext_lazy("never"))
    def last_success(self, obj):
        return obj.last_success_at

    def has_run_backup_permission(self, request):
        return self.has_perm(request, "run_backup")

    @admin.action(description=gettext_lazy("Back up now"), permissions=["run_backup"])
    def backup_now(self, request, queryset):
        if too_many(self, request, queryset):
            return None
        form = BackupNowForm(request.POST if applying(request) else None,
                             initial={"format": formats.suggested(queryset)})
        if not form.is_valid():
            return intermediate_page(
                self, request, queryset=queryset, form=form, action="backup_now", title=_("Back up now"),
                describe=lambda t: f"{t.name} ({self.address(t)})",
                intro=_("One backup is queued for each target below; the list of backups shows its progress.") if
                not any(t.is_server for t in queryset) else _(
                    "One backup is queued for each target below, and for each server target one run that backs "
                    "up each of its databases; the lists of backups and of server runs show their progress."),
            )
        records = self._queue_backups(request, queryset, form.cleaned_data["backup_type"], form.cleaned_data["format"])
        if len(records) == 1:
            return redirect(display.job_url(records[0]))  # one backup asked for: watch it
        return None

    def backup_now_quickly(self, request, object_id):
        """The one-click button (dashboard, targets list): a manual backup in the format suggested for the target
        (services/targets/formats.py), and its job's page to watch it."""
        if not self.has_run_backup_permission(request):
            raise PermissionDenied
        queryset = self.get_queryset(request).filter(pk=object_id)
        records = self._queue_backups(request, queryset, BackupType.MANUAL, formats.suggested(queryset))
        return redirect(display.job_url(records[0]) if records else reverse("admin:index"))

    def _queue_backups(self, request, queryset, backup_type, fmt) -> list:
        inactive = [t.name for t in queryset if not t.is_active]
        queued, records = [], []
        with transaction.atomic():
            for target in queryset.filter(is_active=True):
                if refused := agreement.mismatch(target):  # the worker would refuse it too
                    self.message_user(request, refused, messages.ERROR)
                    continue
                if target.is_server:
                    run = self._queue_server_run(request, target, backup_type, fmt)
                    queued.append((target.name, display.job_link(run, _("server run #%(id)s") % {"id": run.pk})))
                    records.append(run)
                    continue
                record = dump.backup_create(target=target, backup_type=backup_type, fmt=fmt,
                                            started_by=request.user.get_username(), requested_by=request.user)
                queue.enqueue_backup(record)
                history(self, request, target, _("Queued backup #%(id)s (%(type)s, %(format)s).") % {
                    "id": record.pk, "type": BackupType(backup_type).label, "format": BackupFormat(fmt).label})
                history(self, request, record, _("Queued from the console."), added=True)
                queued.append((target.name, display.job_link(record)))
                records.append(record)
        if queued:
            self.message_user(request, linked_message(ngettext(
                "Queued %(n)d backup: %(list)s.", "Queued %(n)d backups: %(list)s.", len(queued)
            ), n=len(queued), list=format_html_join(", ", "{}: {}", queued)), messages.SUCCESS)
        if inactive:
            self.message_user(request, _("Not backed up, because the target is inactive: %(list)s.")
                              % {"list": ", ".join(inactive)}, messages.WARNING)
        return records

    def _queue_server_run(self, request, target, backup_type, fmt):
        run = server_run.run_create(target=target, backup_type=backup_type, fmt=fmt,
                                    started_by=request.user.get_username(), requested_by=request.user)
        queue.enqueue_server_run(run)
        history(self, request, target, _("Queued server run #%(id)s of every database (%(type)s, %(format)s).") % {
            "id": run.pk, "type": BackupType(backup_type).label, "format": BackupFormat(fmt).label})
        return run

    @admin.action(description=gettext_lazy("Test the connection"), permissions=["run_backup"])
    def test_connection(self, request, queryset):
        if too_many(self, request, queryset):
            return None
        for target in queryset:
            report = connection_test.connection_check(target=target)
            text = report_message(report)
            self.message_user(request, text, messages.SUCCESS if report.ok else messages.ERROR)
            history(self, request, target, text)
        return None


def backup_now_button(target):
    """One click in the targets list (whose rows sit in the list's own form): a manual backup, then its job."""
    url = reverse("admin:backups_app_databasetarget_backup_now", args=[target.pk])
    return format_html('<button type="submit" formaction="{}?quick=1" formmethod="post" formnovalidate '
                       'class="bc-button bc-backup-now">{}</button>', url, _("Back up now"))


def report_message(report: connection_test.ConnectionReport) -> str:
    facts = []
    if report.server_version:
        facts.append(_("PostgreSQL %(version)s, database %(size)s") % {
            "version": report.server_version, "size": human_size(report.database_size)})
    if report.pg_dump:
        facts.append(_("pg_dump %(version)s (%(path)s)") % {
            "version": report.pg_dump.version, "path": report.pg_dump.path})
    if report.databases is not None:
        facts.append(ngettext("would back up %(n)d database: %(names)s", "would back up %(n)d databases: %(names)s",
                              len(report.databases)) % {"n": len(report.databases),
                                                        "names": ", ".join(report.databases[:20]) +
                                                        (" …" if len(report.databases) > 20 else "")})
    if report.free_bytes is not None:
        facts.append(_("%(free)s free under %(root)s") % {
            "free": human_size(report.free_bytes), "root": report.backup_root})
    head = _("%(target)s: connection works") if report.ok else _("%(target)s: needs attention")
    text = head % {"target": report.target}
    if facts:
        text += " — " + "; ".join(facts)
    if report.problems:
        text += ". " + _("To fix: %(problems)s") % {"problems": "; ".join(report.problems)}
    return text + "."
