"""The real browser of the browser tests (load with pytest_plugins): Debian's chromium, headless, through Playwright."""

import secrets
import shutil
from pathlib import Path

import pytest

from tests.pgcluster import free_port

CHROMIUM = "chromium"  # Debian's own, found on PATH (/usr/bin/chromium)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def launch(playwright):
    """Never a downloaded browser: Debian's own chromium, headless."""
    return playwright.chromium.launch(executable_path=shutil.which(CHROMIUM), headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync",
    ])


def screenshot(page, name: str) -> Path:
    """A full-page screenshot kept in test-artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def add_superuser(console) -> str:
    """A superuser `admin` in the console's database; its password."""
    password = secrets.token_urlsafe(16)
    console.manage("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com",
                   env={"DJANGO_SUPERUSER_PASSWORD": password})
    return password


def log_in(page, url, password):
    page.goto(f"{url}/admin/")
    assert "/admin/login/" in page.url  # anonymous users are sent to the login page
    page.fill("#id_username", "admin")
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{url}/admin/")


def logged_in_page(console, browser, **page_options):
    """(page, url): the console served by runconsole (gunicorn and a qcluster), its superuser logged in."""
    password = add_superuser(console)
    port = free_port()
    console.start_runconsole(port)
    url = f"http://127.0.0.1:{port}"
    page = browser.new_page(**page_options)
    page.set_default_timeout(20_000)
    log_in(page, url, password)
    return page, url
