"""The console's roles (groups and their permissions), through the same service as `manage.py setup_roles`."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from backups_app.services.setup import roles

    # Permissions of models added later are given to the roles by the migrations that add them.
    roles.migrate_roles(apps, schema_editor, skip_missing=True)


def remove_roles(apps, schema_editor):
    from backups_app.services.setup import roles

    apps.get_model("auth", "Group").objects.filter(name__in=roles.ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("backups_app", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
