"""Channels that hear of failed backups also hear of failed copies to object storage (a new event).

A channel made before the event existed lists its events explicitly, so it
would never hear of it; one that asked for failed backups wants to know
that a backup lives on one host only. Reversing removes the event again.
"""

from django.db import migrations

NEW = "offsite_failed"


def add(apps, schema_editor):
    channels = apps.get_model("backups_app", "NotificationChannel")
    for channel in channels.objects.all():
        events = list(channel.events or [])
        if "backup_failed" in events and NEW not in events:
            channel.events = [*events, NEW]
            channel.save(update_fields=["events"])


def remove(apps, schema_editor):
    channels = apps.get_model("backups_app", "NotificationChannel")
    for channel in channels.objects.all():
        events = list(channel.events or [])
        if NEW in events:
            channel.events = [e for e in events if e != NEW]
            channel.save(update_fields=["events"])


class Migration(migrations.Migration):

    dependencies = [
        ("backups_app", "0011_offsite_uploader"),
    ]

    operations = [migrations.RunPython(add, remove)]
