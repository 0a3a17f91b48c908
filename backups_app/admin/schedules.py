"""Backup schedules: saving or deleting one here updates django-q2's schedule at once."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_q.models import Schedule

from backups_app.admin import display
from backups_app.admin.actions import GuardedActionsMixin, linked_message
from backups_app.admin.schedule_forms import WEEKDAYS, BackupScheduleForm
from backups_app.models import BackupSchedule, BackupStatus
from backups_app.services.jobs import schedules


@admin.register(BackupSchedule)
class BackupScheduleAdmin(GuardedActionsMixin, admin.ModelAdmin):
    form = BackupScheduleForm
    list_display = ["name", "action", "target", "backup_type", "format", "when_in_words", "next_run", "last_result",
                    "enabled"]
    list_filter = ["enabled", "action", "kind", "backup_type", "target"]
    list_select_related = ["target"]
    fieldsets = [
        (None, {"fields": ["name", "enabled", "action", "target", "backup_type", "format"]}),
        (gettext_lazy("When"), {"fields": ["kind", "time_of_day", "weekday", "day_of_month", "cron_expression"]}),
    ]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)  # a class of its own for each request
        form.user = request.user
        return form

    def get_queryset(self, request):
        next_run = Schedule.objects.filter(pk=OuterRef("q_schedule_id"), func=schedules.FUNC).values("next_run")
        return super().get_queryset(request).annotate(q_next_run=Subquery(next_run[:1]))

    @admin.display(description=gettext_lazy("when"))
    def when_in_words(self, obj):
        return when_in_words(obj)

    @admin.display(description=gettext_lazy("next run"), ordering="q_next_run")
    def next_run(self, obj):
        if not obj.enabled:
            return _("disabled")
        when = getattr(obj, "q_next_run", None)
        if when is None:
            return _("not scheduled: run manage.py sync_schedules")
        local = timezone.localtime(when)
        return f"{short_datetime(when)} {local.tzname()}"

    @admin.display(description=gettext_lazy("last result"))
    def last_result(self, obj):
        if not obj.last_run_at:
            return _("never run")
        status = dict(BackupStatus.choices).get(obj.last_status, obj.last_status or "-")
        return f"{status} ({short_datetime(obj.last_run_at)})"

    def get_urls(self):
        from django.urls import path

        return [path("<int:object_id>/run-now/", self.admin_site.admin_view(self.run_now_view),
                     name="backups_app_backupschedule_run_now"), *super().get_urls()]

    def run_now_view(self, request, object_id):
        """Run what the schedule runs, now and once (its times stay as they are); then watch it."""
        from django.db import transaction
        from django.http import HttpResponseNotAllowed
        from django.shortcuts import get_object_or_404, redirect

        from backups_app.services.jobs import queue
        from backups_app.services.scheduled import run as scheduled

        schedule = get_object_or_404(BackupSchedule.objects.select_related("target"), pk=object_id)
        if not schedules.may_schedule(request.user, schedule.action):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        with transaction.atomic():
            # A server target's run lists its databases when it runs: the Jobs page shows them then.
            one_backup = schedule.action == "backup" and not schedule.target.is_server
            record = scheduled.backup_create(schedule) if one_backup else None
            queue.enqueue_schedule_now(schedule, record)
        link = display.job_link(record) if record else format_html(
            '<a href="{}">{}</a>', reverse("admin:backups_app_jobs"), _("the Jobs page"))
        self.message_user(request, linked_message(_("%(name)s runs now: %(job)s."), name=schedule.name, job=link))
        self.log_change(request, schedule, _("Run now."))
        return redirect("admin:backups_app_backupschedule_change", schedule.pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        may_run = obj is not None and schedules.may_schedule(request.user, obj.action)
        return self._change_view(request, object_id, form_url, {**(extra_context or {}), "may_run_now": may_run})

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        outcome = schedules.sync_schedule(schedule=obj)
        if outcome == "refused":
            self.message_user(request, _("Saved, but not scheduled: %(problem)s") % {
                "problem": schedules.schedule_problem(obj)}, level="warning")

    def delete_model(self, request, obj):
        schedules.remove_schedule(schedule=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            schedules.remove_schedule(schedule=obj)
        super().delete_queryset(request, queryset)

    def _change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        upcoming = []
        if obj is not None and obj.enabled and not schedules.schedule_problem(obj):
            upcoming = [timezone.localtime(t) for t in
                        schedules.next_runs(schedules.cron_for(obj), after=timezone.now(), count=5)]
        extra_context = {**(extra_context or {}), "upcoming_runs": upcoming,
                         "time_zone": timezone.get_current_timezone_name()}
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


def short_datetime(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def when_in_words(obj: BackupSchedule) -> str:
    at = obj.time_of_day.strftime("%H:%M") if obj.time_of_day else ""
    if obj.kind == "daily":
        return _("every day at %(time)s") % {"time": at}
    if obj.kind == "weekly":
        return _("every %(day)s at %(time)s") % {"day": dict(WEEKDAYS).get(obj.weekday, "?"), "time": at}
    if obj.kind == "monthly":
        return _("on day %(day)s of every month at %(time)s") % {"day": obj.day_of_month, "time": at}
    return _("cron: %(expression)s") % {"expression": obj.cron_expression}
