"""The console's roles: Django groups with exactly the permissions each role needs.

Setting them up is idempotent and also corrects drift: each group ends with
exactly the permissions listed here, so a role always means what
docs/roles.md says. Runs from `manage.py setup_roles` and from a data
migration (which passes its historical `apps`).
"""

from dataclasses import dataclass

APP = "backups_app"

VIEWERS = "Backup viewers"
POLICY_EDITORS = "Policy editors"
BACKUP_OPERATORS = "Backup operators"
RESTORE_OPERATORS = "Restore operators"

VIEW = (
    "view_databasetarget",
    "view_backuprecord",
    "view_restorerecord",
    "view_verificationrecord",
    "view_retentionpolicy",
    "view_backupschedule",
    "view_prunerecord",
)

# Restoring is the most dangerous action: run_restore is in one role only.
ROLES: dict[str, tuple[str, ...]] = {
    VIEWERS: VIEW,
    POLICY_EDITORS: VIEW + (
        "add_retentionpolicy",
        "change_retentionpolicy",
        "add_backupschedule",
        "change_backupschedule",
    ),
    BACKUP_OPERATORS: VIEW + (
        "run_backup",  # backup_now, verify_backup, copy_offsite, test_connection
        "run_prune",  # prune_now
        "change_backuprecord",  # pin / unpin (every fact of a record stays read-only)
    ),
    # A downloaded file holds the whole database, as a restore can expose it: the same role.
    RESTORE_OPERATORS: VIEW + ("run_restore", "download_backup"),
}


@dataclass(frozen=True)
class RoleChange:
    role: str
    created: bool
    added: tuple[str, ...]
    removed: tuple[str, ...]


class MissingPermissions(Exception):
    pass


def setup_roles(*, apps=None, skip_missing: bool = False) -> list[RoleChange]:
    """Create or correct every role's group. Returns what changed (empty lists when nothing did).

    skip_missing: for an early migration, whose models lack permissions a later
    migration adds (that one runs this again in full).
    """
    if apps is None:
        from django.apps import apps
    Group = apps.get_model("auth", "Group")
    perms = _permissions_by_codename(apps, skip_missing=skip_missing)
    changes = []
    for role, codenames in ROLES.items():
        group, created = Group.objects.get_or_create(name=role)
        wanted = {perms[c] for c in codenames if c in perms}
        have = set(group.permissions.select_related("content_type"))
        group.permissions.set(wanted)
        changes.append(RoleChange(
            role=role, created=created,
            added=tuple(sorted(p.codename for p in wanted - have)),
            removed=tuple(sorted(f"{p.content_type.app_label}.{p.codename}" for p in have - wanted)),
        ))
    return changes


def _permissions_by_codename(apps, *, skip_missing: bool = False) -> dict:
    Permission = apps.get_model("auth", "Permission")
    needed = {c for codenames in ROLES.values() for c in codenames}
    found = {p.codename: p for p in Permission.objects.filter(content_type__app_label=APP, codename__in=needed)}
    # A migration of days before a model existed cannot grant its permissions yet; a later one does.
    missing = {c for c in needed - found.keys() if not _model_missing(apps, c)}
    if missing and not skip_missing:
        raise MissingPermissions(
            f"permissions missing from the database: {', '.join(sorted(missing))} (run manage.py migrate first)"
        )
    return found


def _model_missing(apps, codename: str) -> bool:
    action, _, model = codename.partition("_")
    if action not in ("view", "add", "change", "delete") or apps is None:
        return False
    try:
        apps.get_model(APP, model)
    except LookupError:
        return True
    return False


def migrate_roles(apps, schema_editor, *, skip_missing: bool = False) -> None:
    """setup_roles from a data migration: permissions are normally created after all migrations ran."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    setup_roles(apps=apps, skip_missing=skip_missing)


def summary(changes: list[RoleChange]) -> str:
    created = sum(c.created for c in changes)
    changed = sum(bool(c.added or c.removed) and not c.created for c in changes)
    unchanged = len(changes) - created - changed
    return f"{len(changes)} roles ready ({created} new, {changed} corrected, {unchanged} already right)"
