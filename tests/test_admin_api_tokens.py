"""API tokens in the admin: made by their user, shown once, kept hashed, revoked (never deleted), each person's own."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from backups_app.models import ApiToken
from backups_app.services.setup.roles import BACKUP_OPERATORS, VIEWERS
from backups_app.services.web import tokens
from tests.admin_support import messages_of, post_action

pytest_plugins = ["tests.admin_fixtures"]
pytestmark = pytest.mark.django_db

ADD = "/admin/backups_app/apitoken/add/"
TOKEN = re.compile(r'<code id="bc-new-token" class="bc-token">(bc_[A-Za-z0-9_-]+)</code>')


def test_a_user_makes_a_token_that_is_shown_once_and_kept_only_hashed(as_role):
    client = as_role(BACKUP_OPERATORS)
    page = client.post(ADD, {"name": "deploy-pipeline", "expires_at_0": "", "expires_at_1": ""})
    assert page.status_code == 200, page.content.decode()[:1000]
    raw = TOKEN.search(page.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert (token.name, token.user, token.expires_at) == ("deploy-pipeline", client.user, None)
    assert token.digest == tokens.digest_of(raw) and raw not in str(ApiToken.objects.values().get())
    assert tokens.authenticate(raw) == token
    listing = client.get("/admin/backups_app/apitoken/").content.decode()
    assert f"bc_{token.key_id}_…" in listing and raw not in listing
    detail = client.get(f"/admin/backups_app/apitoken/{token.pk}/change/").content.decode()
    assert raw not in detail and "deploy-pipeline" in detail
    assert LogEntry.objects.filter(object_id=str(token.pk), user=client.user).exists()


def test_a_name_used_twice_or_an_expiry_in_the_past_is_a_form_error(as_role):
    client = as_role(VIEWERS)
    tokens.create(user=client.user, name="ci")
    page = client.post(ADD, {"name": "ci", "expires_at_0": "", "expires_at_1": ""}).content.decode()
    assert "already has a token of this name" in page
    page = client.post(ADD, {"name": "other", "expires_at_0": "2001-01-01", "expires_at_1": "10:00"}).content.decode()
    assert "The expiry must be in the future." in page
    assert ApiToken.objects.count() == 1


def test_each_person_sees_and_revokes_only_their_own_tokens(as_role, django_user_model):
    other = django_user_model.objects.create_user(username="someone", is_staff=True)
    theirs, _ = tokens.create(user=other, name="theirs")
    client = as_role(VIEWERS)
    mine, _ = tokens.create(user=client.user, name="mine")
    listing = client.get("/admin/backups_app/apitoken/").content.decode()
    assert "mine" in listing and "theirs" not in listing
    assert client.get(f"/admin/backups_app/apitoken/{theirs.pk}/change/").status_code in (302, 404)
    response = post_action(client, "apitoken", "revoke_tokens", [mine, theirs])
    assert any("Revoked 1 token: mine." in m for m in messages_of(response))
    mine.refresh_from_db(), theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None
    assert LogEntry.objects.filter(object_id=str(mine.pk), change_message__contains="Revoked").exists()


def test_a_superuser_sees_everyones_tokens_and_makes_one_for_another_user(superuser_client, django_user_model):
    bot = django_user_model.objects.create_user(username="deploy-bot", is_staff=True)
    tokens.create(user=bot, name="old")
    assert "old" in superuser_client.get("/admin/backups_app/apitoken/").content.decode()
    page = superuser_client.post(ADD, {"name": "new", "user": bot.pk, "expires_at_0": "2999-01-01",
                                       "expires_at_1": "00:00"})
    raw = TOKEN.search(page.content.decode()).group(1)
    assert tokens.authenticate(raw).user == bot


def test_a_staff_user_without_a_role_may_have_tokens_that_may_do_nothing(as_role):
    client = as_role(None)
    raw = TOKEN.search(client.post(ADD, {"name": "x", "expires_at_0": "", "expires_at_1": ""}).content.decode())[1]
    assert Client().get("/api/v1/targets", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 403
