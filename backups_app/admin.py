from django.contrib import admin

from backups_app.models import BackupRecord, DatabaseTarget, RetentionPolicy

admin.site.register(DatabaseTarget)
admin.site.register(BackupRecord)
admin.site.register(RetentionPolicy)
