from django.contrib import admin

from backups_app.models import BackupSchedule

admin.site.register(BackupSchedule)
