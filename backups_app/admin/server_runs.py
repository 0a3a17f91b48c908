"""Server runs: one row per run of a server target, with what it found and each database's result."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy

from backups_app.admin.actions import GuardedActionsMixin
from backups_app.admin.jobs import JobAdminMixin
from backups_app.models import ServerRun


@admin.register(ServerRun)
class ServerRunAdmin(GuardedActionsMixin, JobAdminMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "target", "backup_type", "format", "status_badge", "counts", "duration",
                    "progress"]
    list_filter = ["status", "backup_type", "target"]
    list_select_related = ["target"]
    date_hierarchy = "created_at"
    readonly_fields = ["status_badge", "duration", "database_backups"]
    fieldsets = [
        (None, {"fields": ["target", "server_address", "status_badge", "backup_type", "format", "created_at",
                           "started_at", "finished_at", "duration", "started_by", "requested_by", "schedule"]}),
        (gettext_lazy("Databases"), {"fields": ["databases", "added", "dropped", "failed_databases",
                                                 "database_backups", "detail", "error"]}),
    ]

    # A run is a set of backups: whoever may see backups may see runs (the roles stay as they are).
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("backups_app.view_backuprecord") or super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return False

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    @admin.display(description=gettext_lazy("databases"))
    def counts(self, obj):
        failed = len(obj.failed_databases or [])
        if not obj.databases:
            return ""
        return format_html("{} / {}", len(obj.databases) - failed, len(obj.databases))

    @admin.display(description=gettext_lazy("backups"))
    def database_backups(self, obj):
        rows = obj.backups.select_related("target").order_by("target__dbname")
        return format_html_join(", ", '<a href="{}">#{} {} ({})</a>', (
            (reverse("admin:backups_app_backuprecord_change", args=[b.pk]), b.pk, b.target.dbname,
             b.get_status_display()) for b in rows))
