from django.contrib import admin
from django.utils import formats
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from backups_app.admin import display
from backups_app.admin.actions import GuardedActionsMixin
from backups_app.admin.jobs import JobAdminMixin
from backups_app.models import RestoreRecord, VerificationRecord
from backups_app.services.verify import drill


class ReadOnlyJobAdmin(GuardedActionsMixin, JobAdminMixin, admin.ModelAdmin):
    """Restores and verifications are started from a backup's actions; here they are only watched."""

    list_filter = ["status", "created_at"]
    date_hierarchy = "created_at"
    readonly_fields = ["status_badge", "progress", "duration", "started_by_words", "job_log", "client_words"]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("status"), ordering="status")
    def status_cell(self, obj):
        return format_html("{}<br>{}", display.status_badge(obj), display.live_progress(obj))

    @admin.display(description=_("started by"))
    def started_by_words(self, obj):
        return display.started_by(obj)

    @admin.display(description=_("client program"))
    def client_words(self, obj):
        return display.client_program(obj.client)

    @admin.display(description=_("log"))
    def job_log(self, obj):
        return format_html('<pre class="bc-log">{}</pre>', obj.log) if obj.log else "-"


@admin.register(RestoreRecord)
class RestoreRecordAdmin(ReadOnlyJobAdmin):
    list_display = ["id", "created_at", "backup", "server_address", "table_list", "status_cell", "started_by_words",
                    "duration"]
    list_display_links = ["id"]
    list_select_related = ["backup", "server", "requested_by"]
    list_filter = ["status", "overwrite", "server", "created_at"]
    search_fields = ["target_database"]
    fieldsets = [
        (None, {"fields": ["backup", "server", "server_address", "target_database", "tables", "overwrite",
                           "with_globals", "jobs", "no_owner", "no_acl", "force", "terminate_connections",
                           "is_drill"]}),
        (_("Job"), {"fields": ["status_badge", "progress", "created_at", "started_at", "finished_at", "duration",
                               "started_by_words", "requested_by"]}),
        (_("Result"), {"fields": ["safety_backup", "rows", "client_words", "detail", "error"]}),
        (_("Log of its client programs"), {"fields": ["job_log"], "classes": ["collapse"]}),
    ]
    readonly_fields = [*ReadOnlyJobAdmin.readonly_fields, "rows", "table_list"]

    @admin.display(description=_("rows restored"))
    def rows(self, obj):
        if obj.rows_restored is not None:
            return formats.number_format(obj.rows_restored, force_grouping=True)
        if not obj.tables:
            return _("not counted (the whole database)")
        return "-"

    @admin.display(description=_("tables"))
    def table_list(self, obj):
        return ", ".join(obj.tables) if obj.tables else _("all")

    def get_fieldsets(self, request, obj=None):
        # The tables as words, not the JSON list they are kept as.
        return [(name, {**opts, "fields": ["table_list" if f == "tables" else f for f in opts["fields"]]})
                for name, opts in super().get_fieldsets(request, obj)]


@admin.register(VerificationRecord)
class VerificationRecordAdmin(ReadOnlyJobAdmin):
    list_display = ["id", "created_at", "backup", "drill", "status_cell", "ok", "started_by_words", "duration"]
    list_display_links = ["id"]
    list_select_related = ["backup", "requested_by"]
    list_filter = ["status", "ok", "drill", "created_at"]
    readonly_fields = [*ReadOnlyJobAdmin.readonly_fields, "taken_from", "drilled_on"]
    fieldsets = [
        (None, {"fields": ["backup", "taken_from", "drill", "drilled_on"]}),
        (_("Job"), {"fields": ["status_badge", "progress", "created_at", "started_at", "finished_at", "duration",
                               "started_by_words", "requested_by"]}),
        (_("Result"), {"fields": ["ok", "detail", "error"]}),
        (_("Log of its client programs"), {"fields": ["job_log"], "classes": ["collapse"]}),
    ]

    @admin.display(description=_("backup taken from"))
    def taken_from(self, obj):
        return obj.backup.server_address or obj.backup.target.name

    @admin.display(description=_("drill restored into"))
    def drilled_on(self, obj):
        restore = drill.restore_of(obj) if obj.drill else None
        return restore.server_address if restore else ""
