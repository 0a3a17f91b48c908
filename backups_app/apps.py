import gc

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackupsAppConfig(AppConfig):
    name = "backups_app"
    verbose_name = _("Backups")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_migrate
        from django_q.signals import post_spawn

        from backups_app import checks  # noqa: F401  (registers system checks)
        from backups_app.services import notify
        from backups_app.services.backups import upload_recovery
        from backups_app.services.jobs import joblog, lifecycle, reaper, recovery
        from backups_app.services.postgres.proc import when_finished
        from backups_app.services.storage import offsite, store_sweep

        post_spawn.connect(reaper.on_worker_spawn, dispatch_uid="backups_app.reaper")
        post_migrate.connect(_default_target, sender=self, dispatch_uid="backups_app.default_target")
        lifecycle.when_ended(notify.job_ended)
        offsite.when_failed(notify.offsite_failed)
        reaper.also_each_round(notify.check_stale)
        reaper.also_each_round(store_sweep.each_round)
        recovery.also_recover(upload_recovery.recover_uploads)
        when_finished(joblog.note)
        # What the apps built lives as long as the process: later collections skip it (and
        # forked workers keep sharing its pages). manage.py paused the collector until now.
        gc.freeze()
        gc.enable()


def _default_target(sender, using="default", **kwargs):
    """After migrate: the DB_* target is there before anyone opens the console."""
    from backups_app.services.targets import lookup

    if using == "default":
        lookup.sync_default()
