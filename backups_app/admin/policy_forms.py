"""The retention policy form: plain words, clear refusals, and no saving before the effect was seen."""

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.forms.models import construct_instance
from django.utils.translation import gettext_lazy as _

from backups_app.models import RetentionPolicy
from backups_app.services.retention.preview import preview_policy

RULE_FIELDS = ["keep_days", "keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "min_keep"]
COUNT_FIELDS = ["keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"]
SETTING_FIELDS = ["target", "backup_type", *RULE_FIELDS, "enabled"]

NEGATIVE = _("A count cannot be negative. Leave the field empty to switch this rule off.")
TOO_MANY = _("That is more than can be meant; the largest allowed value is %(limit_value)s.")

HELP = {
    "name": _("A name people will recognise, e.g. “Production: 14 days, then weeks, then months”."),
    "target": _("The database this policy is for. Leave empty to apply it to every database."),
    "backup_type": _("Which backups it is for (manual, daily, weekly, monthly). Leave empty for all of them."),
    "keep_days": _("Keep every backup made in the last this-many days. Example: 14 keeps two weeks of "
                   "backups. Leave empty to switch this rule off."),
    "keep_last": _("Keep this many of the newest backups, however old they are. Example: 7."),
    "keep_daily": _("Keep one backup (the last of the day) for each of the last this-many days, counting "
                    "today. Example: 14."),
    "keep_weekly": _("Keep one backup (the last of the week, weeks start on Monday) for each of the last "
                     "this-many weeks. Example: 13 is about three months."),
    "keep_monthly": _("Keep one backup (the last of the month) for each of the last this-many months. "
                      "Example: 24 is two years."),
    "keep_yearly": _("Keep one backup (the last of the year) for each of the last this-many years. Example: 5."),
    "min_keep": _("Whatever the rules above say, never keep fewer successful backups than this for each "
                  "database and type. At least 1: the newest successful backup is never deleted."),
    "enabled": _("A disabled policy keeps nothing and deletes nothing."),
}


class RetentionPolicyForm(forms.ModelForm):
    """Saving happens only after the preview of this exact change was shown (when it deletes anything)."""

    preview_token = forms.CharField(widget=forms.HiddenInput, required=False)
    confirm_large_deletion = forms.BooleanField(
        required=False, label=_("Yes, delete more than half of the backups of the databases named above"),
    )

    class Meta:
        model = RetentionPolicy
        fields = ["name", *SETTING_FIELDS]
        help_texts = HELP
        error_messages = {
            **{name: {"min_value": NEGATIVE, "max_value": TOO_MANY} for name in COUNT_FIELDS},
            "keep_days": {"min_value": _("Keep days must be at least 1. Leave it empty to switch this rule off."),
                          "max_value": _("Keep days cannot be more than 100 years (36525 days).")},
            "min_keep": {"min_value": _("At least one backup is always kept: the minimum cannot be 0 or less."),
                         "required": _("Say how many backups to keep at least (1 or more)."),
                         "max_value": TOO_MANY},
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in RULE_FIELDS:
            if name in self.fields:  # not for a viewer: the fields are shown read-only, without a form field
                _bound_like_the_model(self.fields[name], RetentionPolicy._meta.get_field(name))
        self.preview = None
        self.preview_pending = False
        self.confirmation = ""  # the token that confirms exactly the change previewed (when it deletes anything)

    def clean(self):
        cleaned = super().clean()
        if self.errors:  # the preview plans with these numbers: only with numbers the model accepts
            return cleaned
        draft = construct_instance(self, RetentionPolicy(pk=self.instance.pk), fields=["name", *SETTING_FIELDS])
        self.preview = preview_policy(policy=draft)
        if not self.preview.deleted_count and not self.preview.leftover_count:
            return cleaned
        token = self.confirmation = self.preview.token(*(cleaned.get(f) for f in SETTING_FIELDS))
        if cleaned.get("preview_token") != token:
            self._ask_to_confirm(token)
            raise ValidationError(_("Nothing is saved yet. Check below what this policy deletes, then press "
                                    "Save again to confirm."), code="preview")
        if self.preview.large_targets and not cleaned.get("confirm_large_deletion"):
            self.add_error("confirm_large_deletion", _("This change deletes more than half of the backups of "
                                                       "%(targets)s. Tick the box to confirm.") % {
                "targets": ", ".join(t.target for t in self.preview.large_targets)})
        return cleaned

    def _ask_to_confirm(self, token: str) -> None:
        self.preview_pending = True
        self.data = self.data.copy()
        self.data[self.add_prefix("preview_token")] = token
        self.data.pop(self.add_prefix("confirm_large_deletion"), None)


def _bound_like_the_model(field: forms.IntegerField, model_field) -> None:
    """The model's limits checked with the field's own, before clean() (and so before any preview) runs.

    Django checks a model's validators only after the form's clean(); a count past them overflows the
    planner's date arithmetic.
    """
    for validator in model_field.validators:
        if isinstance(validator, MinValueValidator | MaxValueValidator):
            field.validators.append(validator)
            field.widget.attrs["min" if isinstance(validator, MinValueValidator) else "max"] = validator.limit_value
