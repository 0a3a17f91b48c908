"""Fixtures of the admin tests (load with pytest_plugins): users in each role (English comes from conftest)."""

import pytest
from django.contrib.auth.models import Group


@pytest.fixture
def user_in(db, django_user_model):
    """user_in("Backup operators") -> a staff user in that role; user_in(None) -> staff with no role."""

    def make(role, **fields):
        name = (role or "norole").lower().replace(" ", "-")
        user = django_user_model.objects.create_user(username=name, password=None, is_staff=True, **fields)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def as_role(client, user_in):
    """A client logged in as a fresh user of the given role (None: staff without a role)."""

    def login(role):
        user = user_in(role)
        client.force_login(user)
        client.user = user
        return client

    return login


@pytest.fixture
def superuser_client(client, django_user_model):
    """Like pytest-django's admin_client, without the cost of hashing a password."""
    user = django_user_model.objects.create_superuser(username="root", email="", password=None)
    client.force_login(user)
    client.user = user
    return client
