"""Schemathesis against the API's own OpenAPI document: generated calls to every operation, never a server error.

The document is read from the console (`/api/v1/openapi.json`, through the
WSGI application), and every operation is called with inputs schemathesis
makes from it (valid ones and, by its negative mode, invalid ones), as a
superuser's token so that every call gets past the permission checks into
the code that reads the input. The targets are real: a database on the test
cluster with a real backup, so a generated restore or verification goes as
far as the console would take it. Each answer must not be a 5xx.
"""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from backupconsole.wsgi import application
from backups_app.services.web import tokens

pytest_plugins = ["tests.admin_fixtures", "tests.test_api"]
pytestmark = [pytest.mark.django_db, pytest.mark.slow]


# Read when the module is collected (pytest-django has configured Django by then); the document needs no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture(autouse=True)
def one_connection_for_the_test():
    """Calls go straight to the WSGI application, which closes the database connection after each request;
    inside a test's transaction it must stay open, as Django's test client keeps it."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def superuser_token(django_user_model, world, settings):
    settings.API_THROTTLE_RATE = "100000/min"  # generated calls come fast
    settings.API_WAIT_MAX_SECONDS = 1  # a generated wait on a queued job must not hold the run
    user = django_user_model.objects.create_superuser(username="fuzz", email="", password=None)
    return tokens.create(user=user, name="schemathesis")[1]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_call_is_a_server_error(case, superuser_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {superuser_token}"}, checks=[not_a_server_error])
