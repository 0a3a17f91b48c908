from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("backups_app", "0002_restore_options"),
        ("backups_app", "0002_roles"),
    ]
    operations = []
