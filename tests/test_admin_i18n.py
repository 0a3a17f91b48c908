"""Every text of the console's pages is marked for translation, and the console speaks Japanese by default."""

import os

import pytest
from django.contrib import admin
from django.utils.functional import Promise

from backups_app import forms
from backups_app.models import BackupRecord, DatabaseTarget, RestoreRecord, VerificationRecord
from tests.admin_support import changelist
from tests.console_process import manage

pytest_plugins = ["tests.admin_fixtures"]

ADMINS = [admin.site._registry[m] for m in (DatabaseTarget, BackupRecord, RestoreRecord, VerificationRecord)]
FORMS = [forms.BackupNowForm, forms.RestoreForm, forms.VerifyForm, forms.PinForm]


@pytest.mark.parametrize("model_admin", ADMINS, ids=lambda a: type(a).__name__)
def test_action_labels_and_column_titles_are_marked_for_translation(model_admin):
    for name in model_admin.actions:
        assert isinstance(getattr(model_admin, name).short_description, Promise), name
    for column in model_admin.list_display:
        method = getattr(model_admin, column, None)
        if callable(method):
            assert isinstance(method.short_description, Promise), column


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.__name__)
def test_form_labels_and_help_are_marked_for_translation(form):
    for name, field in form.base_fields.items():
        assert isinstance(field.label, Promise), name
        assert not field.help_text or isinstance(field.help_text, Promise), name


@pytest.mark.django_db
def test_the_console_speaks_japanese_by_default(superuser_client, settings):
    # The test suite runs in English (conftest); ask a fresh process what its default is.
    env = {k: v for k, v in os.environ.items() if k != "LANGUAGE_CODE"}
    out = manage("shell", "-c", "from django.conf import settings; print(settings.LANGUAGE_CODE)",
                 env=env, check=True).stdout.split()
    settings.LANGUAGE_CODE = out[-1]
    html = superuser_client.get(changelist("backuprecord")).content.decode()
    assert '<html lang="ja"' in html
    assert "ログアウト" in html  # Django's own catalogue; ours follows the same path
