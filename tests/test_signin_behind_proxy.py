"""Sign-in throttling behind the documented reverse proxy: a stranger locks out only himself.

Behind nginx every request reaches gunicorn from the proxy's address. The lock is kept per user
name and client address, so the client's address must be the real one: taken from
X-Forwarded-For, but only when the request comes from a proxy named in TRUSTED_PROXY_IPS, and only
the hop that proxy appended (whatever the client wrote there itself could say anything).
"""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from tests.browser_support import add_superuser
from tests.http_session import HttpSession
from tests.pgcluster import free_port

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "a-long-enough-password-8472"
PROXY = "127.0.0.1"  # nginx on the same machine, as docs/deploy.md sets it up
ADMIN_AT = "198.51.100.4"
STRANGER_AT = "203.0.113.9"
DEPLOY_DOC = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORD)


@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXY_IPS = [PROXY]


def through_proxy(forwarded_for: str) -> Client:
    """A browser whose requests nginx passes on, X-Forwarded-For as nginx writes it."""
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)


def sign_in(client: Client, password: str, username: str = "admin") -> int:
    return client.post(LOGIN, {"username": username, "password": password}).status_code


def lock_out(client: Client, settings) -> None:
    """LOGIN_FAILURE_LIMIT wrong passwords: the form again each time, and the last one locks."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "wrong") == 200
    assert sign_in(client, "wrong") == 429


def test_a_stranger_behind_the_proxy_cannot_lock_the_admin_out(admin, behind_proxy, settings):
    stranger = through_proxy(STRANGER_AT)
    lock_out(stranger, settings)
    assert sign_in(stranger, PASSWORD) == 429, "the stranger's own address is locked"
    assert sign_in(through_proxy(ADMIN_AT), PASSWORD) == 302, "the admin, elsewhere, signs in"


def test_only_the_hop_the_proxy_appended_counts(admin, behind_proxy, settings):
    # nginx appends the address it saw ($proxy_add_x_forwarded_for) to whatever the client sent.
    for i in range(settings.AXES_FAILURE_LIMIT):
        sign_in(through_proxy(f"10.0.0.{i}, {STRANGER_AT}"), "wrong")
    assert sign_in(through_proxy(f"10.0.0.99, {STRANGER_AT}"), PASSWORD) == 429, "made-up hops change nothing"
    # Claiming the admin's address does not lock the admin's address either.
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(through_proxy(f"{ADMIN_AT}, {STRANGER_AT}"), "wrong")
    assert sign_in(through_proxy(ADMIN_AT), PASSWORD) == 302


def test_x_forwarded_for_from_an_address_that_is_not_a_trusted_proxy_is_ignored(admin, behind_proxy, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(REMOTE_ADDR=STRANGER_AT, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}"), "wrong")
    forged = Client(REMOTE_ADDR=STRANGER_AT, HTTP_X_FORWARDED_FOR=ADMIN_AT)
    assert sign_in(forged, PASSWORD) == 429, "a new made-up address each time does not reset the count"


def test_without_trusted_proxies_the_connecting_address_is_the_client(admin, settings):
    from backups_app.services.web.client_address import client_address

    assert settings.TRUSTED_PROXY_IPS == []
    request = Client().request(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=ADMIN_AT).wsgi_request
    assert client_address(request) == PROXY


@pytest.mark.parametrize("remote,forwarded,trusted,client", [
    ("127.0.0.1", "198.51.100.4", ["127.0.0.1"], "198.51.100.4"),
    ("127.0.0.1", "1.2.3.4, 198.51.100.4", ["127.0.0.1"], "198.51.100.4"),
    ("127.0.0.1", "198.51.100.4, 10.0.0.7", ["127.0.0.1", "10.0.0.0/8"], "198.51.100.4"),  # two proxies
    ("127.0.0.1", "", ["127.0.0.1"], "127.0.0.1"),  # nobody in front of the proxy: it is the client
    ("127.0.0.1", "not-an-address", ["127.0.0.1"], "127.0.0.1"),
    ("::ffff:127.0.0.1", "2001:db8::5", ["127.0.0.1"], "2001:db8::5"),
    ("::1", " 2001:db8::5 ", ["::1"], "2001:db8::5"),
    ("192.0.2.1", "198.51.100.4", ["127.0.0.1"], "192.0.2.1"),
])
def test_the_client_address_is_the_first_hop_no_trusted_proxy_made(settings, rf, remote, forwarded, trusted,
                                                                   client):
    from backups_app.services.web.client_address import client_address

    settings.TRUSTED_PROXY_IPS = trusted
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == client


def documented_unlocks() -> dict[str, list[str]]:
    """docs/deploy.md's commands that lift a lock: name -> arguments, as printed there."""
    found = re.findall(r"^python manage\.py (axes_reset\w*)([^#\n]*)", DEPLOY_DOC.read_text(), re.M)
    return {name: args.split() for name, args in found}


def test_the_documented_commands_lift_a_lock(admin, behind_proxy, settings):
    commands = documented_unlocks()
    assert commands == {"axes_reset_ip": [STRANGER_AT], "axes_reset_username": ["admin"], "axes_reset": []}
    stranger = through_proxy(STRANGER_AT)
    for name, args in commands.items():
        lock_out(stranger, settings)
        call_command(name, *args, stdout=StringIO())
        assert sign_in(stranger, PASSWORD, username="admin") == 302, name
        stranger.logout()


# -- the real web server, behind a proxy on 127.0.0.1 ---------------------------------------------------


@pytest.mark.slow
def test_the_real_web_server_behind_the_proxy_locks_out_only_the_stranger(console):
    password = add_superuser(console)
    port = free_port()
    console.start_runconsole(port, env={"TRUSTED_PROXY_IPS": "127.0.0.1", "LOGIN_FAILURE_LIMIT": "5"})
    url = f"http://127.0.0.1:{port}"
    stranger = HttpSession(url, headers={"X-Forwarded-For": STRANGER_AT})
    for _ in range(4):
        assert stranger.sign_in("admin", "wrong") == 200
    assert stranger.sign_in("admin", "wrong") == 429
    assert stranger.sign_in("admin", password) == 429
    assert HttpSession(url, headers={"X-Forwarded-For": ADMIN_AT}).sign_in("admin", password) == 302


# -- configuration ------------------------------------------------------------------------------------


def test_a_bad_trusted_proxy_entry_is_reported_at_start(settings):
    from backups_app.checks import trusted_proxies

    settings.TRUSTED_PROXY_IPS = ["127.0.0.1", "nginx"]
    [problem] = trusted_proxies(None)
    assert problem.id == "backups.E040" and problem.msg.endswith("not addresses or networks: nginx")


def test_check_deploy_asks_for_the_proxy_when_https_is_on(settings):
    from backups_app.checks import proxy_without_trust

    settings.HTTPS, settings.TRUSTED_PROXY_IPS = True, []
    [problem] = proxy_without_trust(None)
    assert problem.id == "backups.W040" and "TRUSTED_PROXY_IPS is empty" in problem.msg
    settings.TRUSTED_PROXY_IPS = ["127.0.0.1"]
    assert proxy_without_trust(None) == []
