from django.contrib import admin, messages
from django.utils.translation import gettext_lazy

from backups_app.admin.actions import GuardedActionsMixin
from backups_app.models import BackupStorage
from backups_app.services.storage import probe


@admin.register(BackupStorage)
class BackupStorageAdmin(GuardedActionsMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "location", "is_default", "keep_local_copy", "credentials"]
    list_filter = ["kind", "is_default"]
    actions = ["test_storage"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "is_default", "keep_local_copy"]}),
        (gettext_lazy("Object storage"), {"fields": ["endpoint_url", "bucket", "prefix", "region"]}),
        (gettext_lazy("SFTP server"), {"fields": ["host", "port", "username", "known_hosts_file"]}),
        (gettext_lazy("Credentials"), {
            "fields": ["access_key_env", "secret_key_env", "key_file_env"],
            "description": gettext_lazy("The console never stores a key: only the names of the environment variables "
                                 "that hold them on every web and worker host. Leave both empty to use "
                                 "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the machine's role."),
        }),
        (gettext_lazy("Shared files"), {"fields": ["swept_at", "sweep_detail"]}),
    ]
    readonly_fields = ["swept_at", "sweep_detail"]

    @admin.display(description=gettext_lazy("where"))
    def location(self, obj):
        return obj.location

    @admin.display(description=gettext_lazy("credentials from"))
    def credentials(self, obj):
        if obj.kind in ("gcs", "sftp"):
            return f"${obj.key_file_env}" if obj.key_file_env else "Application Default Credentials"
        if obj.kind != "s3":
            return ""
        if obj.access_key_env:
            return f"${obj.access_key_env}, ${obj.secret_key_env}"
        return "AWS_* / AWS_PROFILE / role"

    @admin.action(description=gettext_lazy("Test storage (write, read back and delete a small object)"),
                  permissions=["change"])
    def test_storage(self, request, queryset):
        for storage in queryset.order_by("name"):
            result = probe.test_storage(storage)
            self.message_user(request, result.line, messages.SUCCESS if result.ok else messages.ERROR)
