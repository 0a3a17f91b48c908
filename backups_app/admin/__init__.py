"""Admin pages, one module per concern."""

from backups_app.admin import backups, notifications, policies, restores, schedules, storage, targets  # noqa: F401
