"""What every job page shares: facts are read-only, rows are made by actions, and pages refresh while jobs run."""

from django.contrib import admin
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from backups_app.admin import display

REFRESH_SECONDS = 5


class JobAdminMixin:
    change_list_template = "admin/backups_app/job_change_list.html"
    change_form_template = "admin/backups_app/job_change_form.html"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # jobs are made by actions, never typed in

    def has_delete_permission(self, request, obj=None):
        return False  # the history of what ran stays; files go through pruning

    def get_readonly_fields(self, request, obj=None):
        computed = list(self.readonly_fields)
        return computed + [f.name for f in self.model._meta.fields if f.name not in computed]

    def changelist_view(self, request, extra_context=None):
        active = self.model.objects.filter(status__in=display.ACTIVE).exists()
        # "Backups", not "Select backup to change": nothing on a job's page is changed.
        title = {"title": capfirst(self.model._meta.verbose_name_plural)}
        return super().changelist_view(request, {**title, **(extra_context or {}), **self._refresh(active)})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A job's own page does not reload itself: while it runs it links to its live progress on the Jobs page.
        active = str(object_id).isdigit() and self.model.objects.filter(
            pk=object_id, status__in=display.ACTIVE).exists()
        context = {**self._refresh(False), "jobs_active": active, "bc_job_kind": display.KIND_OF[self.model.__name__]}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **context})

    def _refresh(self, active: bool) -> dict:
        # Nothing on a job's page can be saved: its facts are read-only and its changes are actions.
        return {"jobs_active": active, "refresh_seconds": REFRESH_SECONDS, "show_save": False,
                "show_save_and_continue": False, "show_save_and_add_another": False}

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        return display.status_badge(obj)

    @admin.display(description=_("duration"), ordering="duration_seconds")
    def duration(self, obj):
        return display.job_duration(obj)

    @admin.display(description=_("progress / result"))
    def progress(self, obj):
        return display.live_progress(obj)
