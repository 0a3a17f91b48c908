"""The console's roles (groups and their permissions), through the same service as `manage.py setup_roles`."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    from backups_app.services.setup import roles

    # Permissions are normally created after all migrations ran; a role needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    roles.setup_roles(apps=apps)


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
