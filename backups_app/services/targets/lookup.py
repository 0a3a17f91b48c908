"""Database targets: the "default" one follows the original script's DB_* settings."""

from django.conf import settings

from backups_app.models import DatabaseTarget
from backups_app.services.postgres import names

DEFAULT_NAME = "default"


class UnknownTarget(Exception):
    pass


def ensure_default() -> DatabaseTarget:
    fields = dict(host=settings.DB_HOST, port=settings.DB_PORT, dbname=settings.DB_NAME,
                  user=settings.DB_USER)
    target, created = DatabaseTarget.objects.get_or_create(
        name=DEFAULT_NAME, defaults={**fields, "password_source": "env", "password_env": "DB_PASSWORD"}
    )
    changed = {k: v for k, v in fields.items() if getattr(target, k) != v}
    if changed:
        DatabaseTarget.objects.filter(pk=target.pk).update(**changed)
        target.refresh_from_db()
    return target


def get_target(name: str) -> DatabaseTarget:
    if name == DEFAULT_NAME:
        return ensure_default()
    target = DatabaseTarget.objects.filter(name=name).first() if names.is_target_name(name) else None
    if target is None:
        known = ", ".join(DatabaseTarget.objects.values_list("name", flat=True)) or "none"
        raise UnknownTarget(f"no target named {name!r} (known: {known})")
    return target
