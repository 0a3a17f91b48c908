import gc

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackupsAppConfig(AppConfig):
    name = "backups_app"
    verbose_name = _("Backups")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django_q.signals import post_spawn

        from backups_app import checks  # noqa: F401  (registers system checks)
        from backups_app.services import notify
        from backups_app.services.jobs import lifecycle, reaper

        post_spawn.connect(reaper.on_worker_spawn, dispatch_uid="backups_app.reaper")
        lifecycle.when_ended(notify.job_ended)
        reaper.also_each_round(notify.check_stale)
        # What the apps built lives as long as the process: later collections skip it (and
        # forked workers keep sharing its pages). manage.py paused the collector until now.
        gc.freeze()
        gc.enable()
