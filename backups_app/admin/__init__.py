"""Admin pages, one module per concern."""

from backups_app.admin import (  # noqa: F401
    backups,
    notifications,
    policies,
    restores,
    schedules,
    server_runs,
    storage,
    targets,
    tokens,
)
