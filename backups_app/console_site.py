"""The console's admin site: its own name in header and title, and the health dashboard as the index.

Kept out of backups_app.admin so that loading the site class (at start-up,
through the admin's app config) does not load the admin's modules: cron's
commands start without them.
"""

from django.contrib import admin
from django.contrib.admin.apps import SimpleAdminConfig
from django.utils.translation import gettext_lazy as _


class ConsoleAdminSite(admin.AdminSite):
    site_header = _("Backup Console")
    site_title = _("Backup Console")
    index_title = _("Backup health")
    index_template = "admin/backups_app/dashboard.html"

    def index(self, request, extra_context=None):
        from backups_app.admin.dashboard import dashboard_context

        return super().index(request, extra_context={**dashboard_context(request), **(extra_context or {})})


class ConsoleAdminConfig(SimpleAdminConfig):
    """SimpleAdminConfig (admin modules loaded by the URLconf, not at start-up) with the console's site."""

    default_site = "backups_app.console_site.ConsoleAdminSite"
