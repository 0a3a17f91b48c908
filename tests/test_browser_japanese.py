"""The console in Japanese in a real browser: screenshots of the dashboard, a backup list and the policy form.

Debian's chromium (through Playwright) asks for Japanese (Accept-Language) from
the console served by pytest-django's live server. The screenshots are kept in
test-artifacts/ for people to look at; the test checks what it can of them:
the pages are Japanese and their Japanese text is drawn with a font that has
Japanese glyphs (no boxes in place of characters).
"""

import subprocess

import pytest

from tests.browser_support import CHROMIUM, screenshot
from tests.console_contents import fill_console

pytest_plugins = ["tests.browser_support"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.requires(CHROMIUM, package="chromium"),
    pytest.mark.requires("fc-list", package="fontconfig"),
]
PASSWORD = "ja-screenshots-0nly"


def japanese_font_families() -> set[str]:
    out = subprocess.run(["fc-list", ":lang=ja", "family"], capture_output=True, text=True, check=True).stdout
    return {name.strip() for line in out.splitlines() for name in line.split(",") if name.strip()}


def fonts_drawing(page, selector: str) -> set[str]:
    """The fonts chromium actually drew the element's text with (DevTools: CSS.getPlatformFontsForNode)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    return {f["familyName"] for f in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]}


@pytest.fixture
def console_in_japanese(transactional_db, backup_root, settings, django_user_model):
    settings.LANGUAGE_CODE = "ja"
    django_user_model.objects.create_superuser(username="admin", email="", password=PASSWORD)
    return fill_console()


@pytest.fixture
def page(console_in_japanese, live_server, browser):
    context = browser.new_context(locale="ja-JP", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    yield page
    context.close()


def test_a_japanese_font_is_installed():
    assert japanese_font_families(), "no font with Japanese glyphs: install fonts-noto-cjk (scripts/test.sh does)"


def test_the_dashboard_backup_list_and_policy_form_are_japanese_and_drawn_in_a_japanese_font(
        page, console_in_japanese, live_server):
    policy = console_in_japanese["policy"]
    shots = [("ja-dashboard.png", "/admin/", "データベースごとのバックアップ"),
             ("ja-backup-list.png", "/admin/backups_app/backuprecord/", "バックアップをリストア"),
             ("ja-policy-form.png", f"/admin/backups_app/retentionpolicy/{policy.pk}/change/", "保持日数")]
    for name, path, words in shots:
        page.goto(f"{live_server.url}{path}")
        assert screenshot(page, name).stat().st_size > 10_000  # first: a failure leaves the picture to look at
        assert page.locator("html").get_attribute("lang") == "ja", path
        assert words in page.content(), path
        drawn_with = fonts_drawing(page, "#site-name")
        assert drawn_with & japanese_font_families(), f"{path}: the title was drawn with {drawn_with}"
