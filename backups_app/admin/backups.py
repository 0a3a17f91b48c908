from django.contrib import admin

from backups_app.models import BackupRecord


@admin.register(BackupRecord)
class BackupRecordAdmin(admin.ModelAdmin):
    list_display = ["id", "target", "backup_type", "format", "status", "size_bytes", "created_at"]
