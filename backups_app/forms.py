"""Forms of the admin's intermediate pages (backup_now, restore_backup, verify_backup, pin_backup)."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from backups_app.models import BackupFormat, BackupType, DatabaseTarget, TargetKind
from backups_app.services.crypto import keys
from backups_app.services.postgres import names


class DatabaseTargetForm(forms.ModelForm):
    """The admin's target form: the password variable and age public keys are checked as they are typed."""

    class Meta:
        model = DatabaseTarget
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "password_env" in self.fields:
            self.fields["password_env"].help_text = _(
                "Name of the environment variable that holds the password, not the password. Allowed: "
                "%(allowed)s (TARGET_PASSWORD_VARIABLES; names ending in * are prefixes).") % {
                "allowed": ", ".join(settings.TARGET_PASSWORD_VARIABLES) or "-"}

    def clean_age_recipients(self):
        text = self.cleaned_data.get("age_recipients", "")
        if bad := keys.bad_recipients(keys.parse_recipients(text)):
            raise forms.ValidationError(_("Not an age public key: %(key)s (expected age1... or an ssh-ed25519 key). "
                                          "Only public keys belong here."), params={"key": keys.shown(bad[0])})
        return text

    def clean(self):
        data = super().clean()
        if data.get("password_source") == "env" and "password_env" not in self.errors:
            name = data.get("password_env") or "DB_PASSWORD"
            try:
                names.check_password_variable(name)
            except names.BadName:
                self.add_error("password_env", _(
                    "%(name)s is not a variable a target may take its password from. Allowed: %(allowed)s "
                    "(TARGET_PASSWORD_VARIABLES; names ending in * are prefixes).") % {
                    "name": name, "allowed": ", ".join(settings.TARGET_PASSWORD_VARIABLES) or "-"})
        if data.get("encrypt") and not keys.parse_recipients(data.get("age_recipients", "")) \
                and not settings.BACKUP_AGE_RECIPIENTS:
            self.add_error("age_recipients", _("Add an age public key (or set BACKUP_AGE_RECIPIENTS) to encrypt."))
        self._clean_server(data)
        return data

    def _clean_server(self, data) -> None:
        """A server target: a name short enough for its databases' names, and patterns that can name databases."""
        from backups_app.services.targets import discovery

        server = data.get("kind") == TargetKind.SERVER
        if server and len(data.get("name") or "") > names.MAX_SERVER_NAME:
            self.add_error("name", _("A server target's name has at most %(n)d characters: its databases' "
                                     "targets are named after it.") % {"n": names.MAX_SERVER_NAME})
        if server and self.instance.pk and self.instance.server_id:
            self.add_error("kind", _("This is a database found on a server; it cannot be a server itself."))
        for field in ("include_databases", "exclude_databases"):
            text = data.get(field) or ""
            if text.strip() and not server:
                self.add_error(field, _("Only a server target chooses among databases."))
            elif bad := discovery.bad_patterns(text):
                self.add_error(field, _("Too long to name a database: %(line)s") % {"line": bad[0][:80]})
        if not server and self.instance.pk and self.instance.is_server and self.instance.databases.exists():
            self.add_error("kind", _("This server target has databases with backups of their own; it stays a "
                                     "server target (deactivate it instead)."))


class BackupNowForm(forms.Form):
    backup_type = forms.ChoiceField(
        label=_("Backup type"), choices=BackupType.choices, initial=BackupType.MANUAL,
        help_text=_("The folder it goes to and the retention rules that apply to it."),
    )
    format = forms.ChoiceField(
        label=_("Format"), initial=BackupFormat.CUSTOM,
        choices=BackupFormat.choices,
        help_text=_("Custom archives restore single tables and in parallel; plain SQL is readable text; "
                    "directory is a folder dumped several tables at once, for databases with many tables."),
    )


class VerifyForm(forms.Form):
    drill = forms.BooleanField(
        label=_("Restore drill"), required=False,
        help_text=_("Also restore into a scratch database, check every table, then drop it. Takes longer."),
    )


class PinForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=255,
        help_text=_("Why this backup must be kept, e.g. a ticket number or a legal request."),
    )


class ServerChoiceField(forms.ModelChoiceField):
    """A target offered as a server to restore onto, named with its host and port."""

    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.host}:{obj.port})"


class RestoreForm(forms.Form):
    into = forms.CharField(
        label=_("Restore into database"), max_length=63, widget=forms.TextInput(attrs={"size": 50}),
        help_text=_("A new database is created. To replace an existing one, tick overwrite below."),
    )
    server = ServerChoiceField(
        label=_("On server"), queryset=DatabaseTarget.objects.filter(is_active=True), required=False,
        help_text=_("Connection used for the restore; empty means the backup's own target."),
    )
    tables = forms.CharField(
        label=_("Only these tables"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Optional. One SCHEMA.TABLE per line (or separated by commas), e.g. public.rental."),
    )
    jobs = forms.IntegerField(
        label=_("Parallel jobs"), min_value=1, max_value=16, initial=1,
        help_text=_("Custom archives only; TimescaleDB restores always use one."),
    )
    with_globals = forms.BooleanField(
        label=_("Also create roles and tablespaces"), required=False,
        help_text=_("Apply the roles and tablespaces saved with the backup first (for a new server)."),
    )
    no_owner = forms.BooleanField(
        label=_("Skip the original owners"), required=False,
        help_text=_("Custom archives: the restoring user owns every object. Left unticked, owners are kept "
                    "when that user is a superuser."),
    )
    no_acl = forms.BooleanField(
        label=_("Skip grants"), required=False,
        help_text=_("Custom archives: leave out the backup's GRANT and REVOKE."),
    )
    force = forms.BooleanField(
        label=_("Restore even if its verification failed"), required=False,
    )
    overwrite = forms.BooleanField(
        label=_("Overwrite the existing database"), required=False,
        help_text=_("Replaces everything in it. A safety backup of it is taken first; a TimescaleDB "
                    "database is instead swapped out and kept under a dated name."),
    )
    confirm_name = forms.CharField(
        label=_("Type the database name to confirm the overwrite"), max_length=63, required=False,
    )
    terminate_connections = forms.BooleanField(
        label=_("End the sessions connected to it"), required=False,
        help_text=_("TimescaleDB backups replace the database by swapping in a restored copy, which needs "
                    "it free of clients. Unticked, the restore is refused while any are connected."),
    )

    def __init__(self, *args, tables=None, **kwargs):
        """tables: the archive's own tables; when known, they are picked from a searchable list, not typed."""
        super().__init__(*args, **kwargs)
        if tables:
            from django.contrib.admin.widgets import FilteredSelectMultiple

            self.fields["tables"] = forms.MultipleChoiceField(
                label=_("Only these tables"), required=False, choices=[(t, t) for t in tables],
                widget=FilteredSelectMultiple(_("tables"), is_stacked=False),
                help_text=_("Optional: type in the box to search the backup's tables, and move the ones to "
                            "restore to the right. None chosen: the whole database."))

    def clean_into(self):
        name = self.cleaned_data["into"].strip()
        try:
            return names.check_database(name)
        except names.BadName as exc:
            if exc.rule == "template":
                raise forms.ValidationError(
                    _("%(name)s is a template database; restore into another name."), params={"name": name},
                ) from None
            raise forms.ValidationError(
                _("Use 1 to 63 letters, digits, underscores or hyphens, starting with a letter or an underscore.")
            ) from None

    def clean_tables(self):
        value = self.cleaned_data["tables"]
        tables = list(value) if isinstance(value, list) else names.split_tables(value)
        bad = [t for t in tables if not _is_table(t)]
        if bad:
            raise forms.ValidationError(
                _("Write each table as SCHEMA.TABLE (e.g. public.rental): %(names)s"),
                params={"names": ", ".join(bad)},
            )
        return list(dict.fromkeys(tables))

    def clean(self):
        data = super().clean()
        into, overwrite = data.get("into"), data.get("overwrite")
        typed = (data.get("confirm_name") or "").strip()
        if overwrite and into and typed != into:
            self.add_error("confirm_name", _("Type %(name)s exactly to overwrite it.") % {"name": into})
        if typed and not overwrite:
            self.add_error("overwrite", _("Tick overwrite as well, or clear the typed name."))
        return data


def _is_table(text: str) -> bool:
    try:
        names.parse_table(text)
    except names.BadName:
        return False
    return True
