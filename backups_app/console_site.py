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
    # The console's own row of links (base_site.html) replaces the sidebar: lists get the whole width.
    enable_nav_sidebar = False
    site_url = None  # "View site" led back here: the console is the site

    def get_urls(self):
        from django.urls import path

        from backups_app.admin import dashboard, jobs_page

        def page(view):
            return self.admin_view(lambda request, **kw: view(request, self, **kw))

        return [
            path("dashboard/charts/<int:pk>/", page(dashboard.charts_view), name="backups_app_dashboard_charts"),
            path("jobs/", page(jobs_page.jobs_view), name="backups_app_jobs"),
            path("jobs/rows/", page(jobs_page.jobs_rows_view), name="backups_app_jobs_rows"),
            path("jobs/<str:kind>/<int:pk>/", page(jobs_page.job_view), name="backups_app_job"),
            path("jobs/<str:kind>/<int:pk>/progress/", page(jobs_page.job_progress_view),
                 name="backups_app_job_progress"),
            *super().get_urls(),
        ]

    def get_app_list(self, request, app_label=None):
        # django-q2's own pages stay at their address for developers; operators watch jobs on the Jobs page.
        apps = super().get_app_list(request, app_label)
        return apps if app_label else [a for a in apps if a["app_label"] != "django_q"]

    def index(self, request, extra_context=None):
        from backups_app.admin.dashboard import dashboard_context

        return super().index(request, extra_context={**dashboard_context(request), **(extra_context or {})})


class ConsoleAdminConfig(SimpleAdminConfig):
    """SimpleAdminConfig (admin modules loaded by the URLconf, not at start-up) with the console's site."""

    default_site = "backups_app.console_site.ConsoleAdminSite"
