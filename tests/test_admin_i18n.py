"""Every text of the console's pages is marked for translation, and the console speaks Japanese by default."""

import os

import pytest
from django.contrib import admin
from django.utils import translation
from django.utils.functional import Promise

import backupconsole.urls  # noqa: F401  (registers the admin's pages, admin.autodiscover, as the console does)
from backups_app import forms
from backups_app.admin.notifications import NotificationChannelForm
from backups_app.admin.policy_forms import RetentionPolicyForm
from backups_app.admin.schedule_forms import BackupScheduleForm
from tests.admin_support import changelist
from tests.console_process import manage

pytest_plugins = ["tests.admin_fixtures"]

ADMINS = [a for m, a in admin.site._registry.items() if m._meta.app_label == "backups_app"]
FORMS = [forms.BackupNowForm, forms.RestoreForm, forms.VerifyForm, forms.PinForm, BackupScheduleForm,
         RetentionPolicyForm, NotificationChannelForm]


def test_the_urlconf_registered_every_admin_page_of_the_console():
    assert len(ADMINS) == 11


@pytest.mark.parametrize("model_admin", ADMINS, ids=lambda a: type(a).__name__)
def test_action_labels_column_titles_and_sections_are_marked_for_translation(model_admin):
    for name in model_admin.actions or []:
        assert isinstance(getattr(model_admin, name).short_description, Promise), name
    for column in model_admin.list_display:
        method = getattr(model_admin, column, None)
        if callable(method):
            assert isinstance(method.short_description, Promise), column
    for title, _fields in model_admin.fieldsets or []:
        assert title is None or isinstance(title, Promise), title


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
def test_form_labels_and_help_are_marked_for_translation(form):
    for name, field in form.base_fields.items():
        if field.widget.is_hidden:
            continue
        assert isinstance(field.label, Promise) or field.label is None, name
        assert not field.help_text or isinstance(field.help_text, Promise), name


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
def test_form_labels_start_with_a_capital_letter_as_djangos_own_do(form):
    with translation.override("en"):
        labels = {name: str(field.label) for name, field in form().fields.items() if field.label}
    assert all(label[0].isupper() for label in labels.values()), labels


def test_schedule_help_texts_follow_the_language_of_each_request():
    # Once they were translated at import time and stayed in the language the process started with.
    for language, word in [("en", "time zone"), ("ja", "タイムゾーン"), ("en", "time zone")]:
        with translation.override(language):
            fields = BackupScheduleForm().fields
            assert word in str(fields["time_of_day"].help_text), language
            assert ("Only for" if language == "en" else "のときだけ") in str(fields["cron_expression"].help_text)


@pytest.mark.django_db
def test_the_console_speaks_japanese_by_default(superuser_client, settings):
    # The test suite runs in English (conftest); ask a fresh process what its default is.
    env = {k: v for k, v in os.environ.items() if k != "LANGUAGE_CODE"}
    out = manage("shell", "-c", "from django.conf import settings; print(settings.LANGUAGE_CODE)",
                 env=env, check=True).stdout.split()
    settings.LANGUAGE_CODE = out[-1]
    html = superuser_client.get(changelist("backuprecord")).content.decode()
    assert '<html lang="ja"' in html
    assert "ログアウト" in html and "バックアップ" in html


@pytest.mark.django_db
def test_the_browsers_language_is_respected(superuser_client, settings):
    settings.LANGUAGE_CODE = "ja"
    html = superuser_client.get(changelist("retentionpolicy"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en"' in html and "Retention policies" in html
    html = superuser_client.get(changelist("retentionpolicy"), HTTP_ACCEPT_LANGUAGE="ja,en;q=0.5").content.decode()
    assert '<html lang="ja"' in html and "保持ポリシー" in html
