from django.contrib import admin

from backups_app.models import DatabaseTarget


@admin.register(DatabaseTarget)
class DatabaseTargetAdmin(admin.ModelAdmin):
    list_display = ["name", "host", "port", "dbname", "user", "is_active"]
