from django.contrib import admin

from backups_app.models import RestoreRecord, VerificationRecord

admin.site.register(RestoreRecord)
admin.site.register(VerificationRecord)
