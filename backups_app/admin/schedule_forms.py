"""The backup schedule form: simple choices (daily, weekly, monthly) or a cron expression, in TIME_ZONE."""

from django import forms
from django.conf import settings
from django.utils.functional import lazy
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from backups_app.models import BackupSchedule
from backups_app.models.schedules import ScheduleAction
from backups_app.services.jobs import schedules


def _in_time_zone(text) -> str:
    """text (lazy) with the console's time zone filled in when shown, so in the language of that request."""
    return lazy(lambda: str(text) % {"zone": settings.TIME_ZONE}, str)()


def _label(name: str) -> str:
    """The model field's own name, capitalised as Django does for the fields it makes itself."""
    return capfirst(BackupSchedule._meta.get_field(name).verbose_name)


WEEKDAYS = [(0, _("Monday")), (1, _("Tuesday")), (2, _("Wednesday")), (3, _("Thursday")), (4, _("Friday")),
            (5, _("Saturday")), (6, _("Sunday"))]


ADD_REFUSED = {
    "backup": _("Only a user who may back up can schedule backups and verifications."),
    "verify": _("Only a user who may back up can schedule backups and verifications."),
    "drill": _("Only a user who may restore can schedule restore drills."),
}
CHANGE_REFUSED = {
    "backup": _("This schedule runs backups: only a user who may back up can change it."),
    "verify": _("This schedule runs verifications: only a user who may back up can change it."),
    "drill": _("This schedule runs restore drills: only a user who may restore can change it."),
}


class BackupScheduleForm(forms.ModelForm):
    weekday = forms.TypedChoiceField(label=_label("weekday"), choices=[("", "---------"), *WEEKDAYS], coerce=int,
                                     empty_value=None, required=False,
                                     help_text=_("For “every week” only."))
    # Not required: a form posted without it (older scripts, bookmarks) means a backup, as before.
    action = forms.ChoiceField(label=_label("action"), choices=ScheduleAction.choices, required=False,
                               initial=ScheduleAction.BACKUP,
                               help_text=BackupSchedule._meta.get_field("action").help_text)

    class Meta:
        model = BackupSchedule
        fields = ["name", "action", "target", "backup_type", "format", "kind", "time_of_day", "weekday", "day_of_month",
                  "cron_expression", "enabled"]
        widgets = {"time_of_day": forms.TimeInput(format="%H:%M")}
        help_texts = {
            "kind": _("Every day, every week or every month at a time of day; or a cron expression."),
            "time_of_day": _in_time_zone(_("HH:MM, in the console's time zone (%(zone)s). Example: 02:00.")),
            "day_of_month": _("For “every month” only: 1 to 28, so that every month has that day."),
            "cron_expression": _in_time_zone(_("Only for “cron expression”: minute hour day-of-month month "
                                               "weekday, in %(zone)s. Example: 30 2 * * 1-5 (02:30 on weekdays).")),
            "backup_type": _("The folder and the retention rules the backups belong to. For a verification or "
                             "a drill: look only at backups of this type (empty: any type)."),
        }
        error_messages = {"day_of_month": {"max_value": _("Use a day from 1 to 28; later days are missing in "
                                                          "some months."),
                                           "min_value": _("Use a day from 1 to 28.")},
                          "time_of_day": {"invalid": _("Write the time as HH:MM, e.g. 02:00.")}}

    user = None  # set by the admin (get_form): who saves it, so the schedule runs nothing they could not

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk and "backup_type" in self.fields:
            self.fields["backup_type"].initial = "daily"  # what a schedule usually makes

    def clean_action(self):
        action = self.cleaned_data.get("action") or ScheduleAction.BACKUP
        if self.user is None:
            return action
        before = self.instance.action if self.instance.pk else None
        if before and not schedules.may_schedule(self.user, before):
            raise forms.ValidationError(CHANGE_REFUSED[before], code="permission")
        if not schedules.may_schedule(self.user, action):
            raise forms.ValidationError(ADD_REFUSED[action], code="permission")
        return action

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action", "backup") == "backup" and not cleaned.get("backup_type"):
            self.add_error("backup_type", _("A backup schedule needs a backup type."))
        target = cleaned.get("target")
        if target is not None and target.is_server and cleaned.get("action", "backup") != "backup":
            self.add_error("target", _("A server target's schedule backs up its databases; verify or drill the "
                                       "target of one of its databases instead."))
        kind = cleaned.get("kind")
        if kind not in schedules.NEEDS:
            return cleaned
        for name in schedules.NEEDS[kind]:
            if cleaned.get(name) in (None, "") and name not in self.errors:  # a bad value is said once, not twice
                self.add_error(name, _("Needed for “%(kind)s”.") % {
                    "kind": dict(self.fields["kind"].choices)[kind]})
        if kind == "cron" and cleaned.get("time_of_day") is not None:
            # Silently ignored, a time typed here would look like the time it runs.
            self.add_error("time_of_day", _("A cron expression says its own time: leave the time empty, or "
                                            "choose “every day” to run at this time."))
        if self.errors:
            return cleaned
        draft = BackupSchedule(**{k: cleaned.get(k) for k in ["kind", "time_of_day", "weekday", "day_of_month"]},
                               cron_expression=cleaned.get("cron_expression") or "")
        problem = schedules.schedule_problem(draft)
        if problem:
            self.add_error("cron_expression" if kind == "cron" else "time_of_day", problem)
        return cleaned
