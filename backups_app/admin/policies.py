from django.contrib import admin

from backups_app.models import RetentionPolicy

admin.site.register(RetentionPolicy)
