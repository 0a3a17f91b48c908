from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from backups_app.admin.actions import GuardedActionsMixin
from backups_app.admin.jobs import JobAdminMixin
from backups_app.models import RestoreRecord, VerificationRecord
from backups_app.services.verify import drill


class ReadOnlyJobAdmin(GuardedActionsMixin, JobAdminMixin, admin.ModelAdmin):
    """Restores and verifications are started from a backup's actions; here they are only watched."""

    list_filter = ["status", "created_at"]
    date_hierarchy = "created_at"
    readonly_fields = ["status_badge", "progress", "duration"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RestoreRecord)
class RestoreRecordAdmin(ReadOnlyJobAdmin):
    list_display = ["id", "created_at", "backup", "server", "server_address", "table_list", "overwrite",
                    "requested_by", "status_badge", "duration", "progress"]
    list_display_links = ["id"]
    list_select_related = ["backup", "server", "requested_by"]
    list_filter = ["status", "overwrite", "server", "created_at"]
    search_fields = ["target_database"]
    fieldsets = [
        (None, {"fields": ["backup", "server", "server_address", "target_database", "tables", "overwrite",
                           "with_globals", "jobs", "no_owner", "no_acl", "force", "terminate_connections",
                           "is_drill"]}),
        (_("Job"), {"fields": ["status_badge", "progress", "created_at", "started_at", "finished_at", "duration",
                               "started_by", "requested_by"]}),
        (_("Result"), {"fields": ["safety_backup", "rows_restored", "client", "detail", "error"]}),
    ]

    @admin.display(description=_("tables"))
    def table_list(self, obj):
        return ", ".join(obj.tables) if obj.tables else _("all")


@admin.register(VerificationRecord)
class VerificationRecordAdmin(ReadOnlyJobAdmin):
    list_display = ["id", "created_at", "backup", "drill", "requested_by", "status_badge", "ok", "duration",
                    "progress"]
    list_display_links = ["id"]
    list_select_related = ["backup", "requested_by"]
    list_filter = ["status", "ok", "drill", "created_at"]
    readonly_fields = [*ReadOnlyJobAdmin.readonly_fields, "taken_from", "drilled_on"]
    fieldsets = [
        (None, {"fields": ["backup", "taken_from", "drill", "drilled_on"]}),
        (_("Job"), {"fields": ["status_badge", "progress", "created_at", "started_at", "finished_at", "duration",
                               "started_by", "requested_by"]}),
        (_("Result"), {"fields": ["ok", "detail", "error"]}),
    ]

    @admin.display(description=_("backup taken from"))
    def taken_from(self, obj):
        return obj.backup.server_address or obj.backup.target.name

    @admin.display(description=_("drill restored into"))
    def drilled_on(self, obj):
        restore = drill.restore_of(obj) if obj.drill else None
        return restore.server_address if restore else ""
