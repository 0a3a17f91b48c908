"""An operator's console at 1440x900 in a real browser: every answer on screen, one click to act, jobs watched.

Debian's chromium (Playwright) against one `manage.py runconsole` (gunicorn and
a real qcluster) shared by the whole module, on a console holding every kind of
record (tests/console_contents.py), a target with long names whose last backup
failed with a long error, and two real targets on the test cluster: pagila and
a table big enough that its backup takes a few seconds. In English, Japanese
and dark mode no list, form or the dashboard scrolls sideways; the backup
page's buttons restore, verify, pin and download; a backup started from the
dashboard is watched to its end on the Jobs page without a reload; a policy's
preview appears before it is saved; a single table is restored by picking it
from the archive's own list. Screenshots of the main pages in English and
Japanese are kept in test-artifacts/.
"""

import hashlib
import re
from pathlib import Path

import pytest

from tests.browser_support import CHROMIUM, log_in, screenshot
from tests.pgcluster import free_port
from tests.qcluster import Console

pytest_plugins = ["tests.browser_support"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.requires(CHROMIUM, package="chromium"),
]

PASSWORD = "operator-at-1440-0nly"
LONG_NAME = "production-trading-analytics-eu-west-replica-01"
LONG_ERROR = ('pg_dump: error: connection to server at "analytics-replica-01.db.eu-west-1.example.internal" '
              '(10.20.30.40), port 6543 failed: FATAL:  password authentication failed for user '
              '"backup_operator_with_a_rather_long_name_for_the_reporting_warehouse"' + " and more" * 20)
SIZE = {"width": 1440, "height": 900}
MODES = {"en": {"locale": "en-US"}, "ja": {"locale": "ja-JP"}, "dark": {"locale": "en-US", "color_scheme": "dark"}}

# Every element that scrolls sideways (the page itself, or a box with overflow-x), and by how much.
SIDEWAYS = """() => {
  const found = [];
  const page = document.scrollingElement;
  if (page.scrollWidth > window.innerWidth) found.push(`page: ${page.scrollWidth} > ${window.innerWidth}`);
  for (const el of document.querySelectorAll("body *")) {
    const x = getComputedStyle(el).overflowX;
    if ((x === "auto" || x === "scroll") && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
      found.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className}: ${el.scrollWidth} > ${el.clientWidth}`);
    }
  }
  return found;
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory, pg_cluster, pagila, big_db):
    """The console's URL, the Console, and the ids of what it holds."""
    # gzip at its slowest, so that the big table's backup takes long enough to be watched moving.
    console = Console(tmp_path_factory.mktemp("operator"), env={
        "JOB_PROGRESS_SECONDS": "0.5", "BACKUP_CUSTOM_COMPRESSION": "gzip:9"}).migrate()
    console.manage("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com",
                   env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD})
    ids = {"pagila": console.add_target("pagila", dbname=pagila, cluster=pg_cluster),
           "big": console.add_target("big", dbname=big_db, cluster=pg_cluster)}
    ids.update(console.shell_json(f"""
        import json
        from tests.console_contents import fill_console
        from tests.retention_records import new_backup, new_target
        made = fill_console()
        long = new_target({LONG_NAME!r}, host="analytics-replica-01.db.eu-west-1.example.internal", port=6543)
        for days in (3, 2, 1):
            new_backup(long, age_days=days, size_bytes=2_000_000_000, duration_seconds=600)
        failed = new_backup(long, age_days=0.2, status="failed", error={LONG_ERROR!r})
        print(json.dumps({{"policy": made["policy"].pk, "failed_backup": failed.pk, "long_target": long.pk,
                          "backup": made["backup"].pk, "schedule": made["schedule"].pk}}))
    """))
    port = free_port()
    console.start_runconsole(port)
    yield f"http://127.0.0.1:{port}", console, ids
    console.close()


@pytest.fixture(scope="module")
def shared_browser():
    from playwright.sync_api import sync_playwright

    from tests.browser_support import launch

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def pages(served, shared_browser):
    """mode -> a logged-in page at 1440x900 in that language or colour scheme."""
    url, _console, _ids = served
    opened = {}

    def page_in(mode):
        if mode not in opened:
            context = shared_browser.new_context(viewport=SIZE, accept_downloads=True, **MODES[mode])
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{url}/admin/login/?next=/admin/")
            page.fill("#id_username", "admin")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{url}/admin/")
            opened[mode] = page
        return opened[mode]

    yield page_in
    for page in opened.values():
        page.context.close()


@pytest.fixture(scope="module")
def pagila_backup(served):
    """A real backup of pagila, made by the command line (id)."""
    _url, console, ids = served
    console.manage("backup", "--target", "pagila")
    return console.rows("SELECT id FROM backups_app_backuprecord WHERE target_id = ? AND status = 'succeeded' "
                        "ORDER BY id DESC", [ids["pagila"]])[0]["id"]


def main_pages(ids, backup_id) -> list[tuple[str, str]]:
    """(name, path) of every list, form and the dashboard."""
    lists = ["databasetarget", "backuprecord", "restorerecord", "verificationrecord", "retentionpolicy",
             "backupschedule", "backupstorage", "notificationchannel", "notification"]
    return [("dashboard", "/admin/"), ("jobs", "/admin/jobs/"),
            *[(f"{m}-list", f"/admin/backups_app/{m}/") for m in lists],
            ("target-form", f"/admin/backups_app/databasetarget/{ids['long_target']}/change/"),
            ("target-add", "/admin/backups_app/databasetarget/add/"),
            ("backup-page", f"/admin/backups_app/backuprecord/{ids['failed_backup']}/change/"),
            ("good-backup-page", f"/admin/backups_app/backuprecord/{backup_id}/change/"),
            ("restore-form", f"/admin/backups_app/backuprecord/{backup_id}/restore/"),
            ("verify-form", f"/admin/backups_app/backuprecord/{backup_id}/verify/"),
            ("backup-now-form", f"/admin/backups_app/databasetarget/{ids['long_target']}/backup-now/"),
            ("policy-form", f"/admin/backups_app/retentionpolicy/{ids['policy']}/change/"),
            ("policy-add", "/admin/backups_app/retentionpolicy/add/"),
            ("schedule-form", f"/admin/backups_app/backupschedule/{ids['schedule']}/change/"),
            ("schedule-add", "/admin/backups_app/backupschedule/add/")]


@pytest.mark.parametrize("mode", list(MODES))
def test_no_list_form_or_the_dashboard_scrolls_sideways(served, pages, pagila_backup, mode):
    url, _console, ids = served
    page = pages(mode)
    problems = {}
    for name, path in main_pages(ids, pagila_backup):
        response = page.goto(url + path)
        assert response.status == 200, f"{path}: {response.status}"
        page.wait_for_load_state("networkidle")
        if mode != "dark":
            screenshot(page, f"{mode}-{name}.png")
        found = page.evaluate(SIDEWAYS)
        if found:
            problems[name] = found
    assert not problems, f"{mode}: sideways scroll at 1440x900:\n" + "\n".join(
        f"  {k}: {v}" for k, v in problems.items())


def test_the_failing_target_is_named_with_its_server_and_its_error_is_shortened(served, pages):
    url, _console, _ids = served
    page = pages("en")
    page.goto(f"{url}/admin/")
    row = page.locator(f"#bc-target-{LONG_NAME}")
    text = row.inner_text()
    assert "analytics-replica-01.db.eu-west-1.example.internal:6543" in text
    assert LONG_ERROR[:60] in text and "…" in text and LONG_ERROR not in text  # the whole text: the backup's page
    row.locator("a.bc-failed").click()
    assert " ".join(LONG_ERROR.split()) in " ".join(page.locator("#content-main").inner_text().split())


def test_dark_mode_rows_that_need_attention_are_readable(served, pages):
    url, _console, _ids = served
    page = pages("dark")
    page.goto(f"{url}/admin/")
    for cell in page.locator(f"#bc-target-{LONG_NAME} td").all():
        fg, bg = cell.evaluate(COLOURS)
        assert contrast(fg, bg) >= 4.5, (cell.inner_text(), fg, bg)


def test_a_backup_started_from_the_dashboard_is_watched_to_its_end_on_the_jobs_page(served, pages):
    url, console, ids = served
    page = pages("en")
    page.goto(f"{url}/admin/")
    page.locator("#bc-target-big button.bc-backup-now").click()
    page.wait_for_url(re.compile(r".*/admin/jobs/backup/\d+/$"))
    loads = []
    page.on("load", lambda _page: loads.append(1))
    seen = []
    for _ in range(400):
        text = page.locator("#bc-job-progress").inner_text()
        if not seen or seen[-1] != text:
            seen.append(text)
        if page.locator("#bc-job-progress .bc-status-succeeded").count():
            break
        page.wait_for_timeout(300)
    else:
        pytest.fail(f"the backup did not end on the Jobs page: {seen[-3:]}\n{console.logs()}")
    assert loads == [], "the Jobs page reloaded itself"
    written = {re.search(r"([\d.,]+ (?:bytes|KiB|MiB|GiB))", t).group(1) for t in seen
               if "running" in t.lower() and re.search(r"[\d.,]+ (?:bytes|KiB|MiB|GiB)", t)}
    assert len(written) >= 2, f"progress did not move: {seen}"
    assert any("dumping" in t.lower() for t in seen), seen
    page.goto(f"{url}/admin/jobs/")
    assert page.locator("#bc-jobs tr.bc-job-backup").count() >= 1


def test_the_backup_page_buttons_verify_pin_download_and_restore(served, pages, pagila_backup):
    url, console, _ids = served
    page = pages("en")
    backup = console.rows("SELECT * FROM backups_app_backuprecord WHERE id = ?", [pagila_backup])[0]
    detail = f"{url}/admin/backups_app/backuprecord/{pagila_backup}/change/"

    page.goto(detail)
    page.locator(".object-tools a.bc-verify").click()
    page.locator("form:has(input[name=apply]) [type=submit]").click()
    page.locator(".messagelist a[href*='/admin/jobs/verification/']").click()
    page.locator("#bc-job-progress .bc-status-succeeded").wait_for(timeout=120_000)

    page.goto(detail)
    page.locator(".object-tools a.bc-pin").click()
    page.fill("#id_reason", "audit 2026-7")
    page.locator("form:has(input[name=apply]) [type=submit]").click()
    assert console.rows("SELECT pinned, pinned_reason FROM backups_app_backuprecord WHERE id = ?",
                        [pagila_backup])[0] == {"pinned": 1, "pinned_reason": "audit 2026-7"}
    page.goto(detail)
    assert "pinned" in page.locator(".bc-badges").inner_text().lower()

    with page.expect_download() as started:
        page.locator(".object-tools a.bc-download").click()
    saved = Path(started.value.path())
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == backup["sha256"]

    page.goto(detail)
    page.locator(".object-tools a.bc-restore").click()
    assert page.url.endswith(f"/{pagila_backup}/restore/")
    assert page.locator("#id_into").evaluate("e => e.scrollWidth <= e.clientWidth")  # the suggested name fits


def test_a_single_table_is_restored_by_picking_it(served, pages, pagila_backup, pg_cluster):
    url, console, _ids = served
    page = pages("en")
    into = "pagila_actor_picked"
    pg_cluster.dropdb(into)
    targets_before = console.rows("SELECT COUNT(*) AS n FROM backups_app_databasetarget")[0]["n"]
    page.goto(f"{url}/admin/backups_app/backuprecord/{pagila_backup}/restore/")
    page.fill("#id_into", into)
    page.fill("#id_tables_input", "acto")  # the search box of the archive's own table list
    page.locator("#id_tables_from option[value='public.actor']").dblclick()
    page.locator("form:has(input[name=apply]) [type=submit]").click()
    page.locator(".messagelist a[href*='/admin/jobs/restore/']").click()
    page.locator("#bc-job-progress .bc-status-succeeded").wait_for(timeout=120_000)
    try:
        assert pg_cluster.sql("SELECT count(*) FROM public.actor", dbname=into)[0][0] == 200
        tables = {r[0] for r in pg_cluster.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
                                               dbname=into)}
        assert tables == {"actor"}
    finally:
        pg_cluster.dropdb(into)
    assert console.rows("SELECT COUNT(*) AS n FROM backups_app_databasetarget")[0]["n"] == targets_before


def test_the_policy_preview_appears_before_saving(served, pages):
    url, console, _ids = served
    page = pages("en")
    page.goto(f"{url}/admin/backups_app/retentionpolicy/add/")
    page.fill("#id_name", "Ticks: one day")
    page.select_option("#id_target", label="ticks")
    page.fill("#id_keep_days", "1")
    preview = page.locator("#policy-preview")
    preview.locator(".preview-deleted").wait_for()
    assert "deleted" in preview.inner_text()
    assert page.locator(".errornote").count() == 0  # neutral: no error before anything was saved
    page.fill("#id_keep_days", "3650")
    page.locator("#policy-preview .preview-nothing").wait_for()  # said also when nothing would be deleted
    page.fill("#id_keep_days", "1")
    preview.locator(".preview-deleted").wait_for()
    page.check("#id_confirm_large_deletion")  # 4 of its 5 backups go: said, and confirmed, before saving
    page.wait_for_timeout(1000)
    page.locator("input[name=_save]").click()
    page.wait_for_url(f"{url}/admin/backups_app/retentionpolicy/")
    assert console.rows("SELECT keep_days FROM backups_app_retentionpolicy WHERE name = 'Ticks: one day'") == [
        {"keep_days": 1}]


def test_schedules_run_now(served, pages):
    url, console, ids = served
    page = pages("en")
    page.goto(f"{url}/admin/backups_app/backupschedule/{ids['schedule']}/change/")
    page.locator(".object-tools .bc-run-now").click()
    page.locator(".messagelist a[href*='/admin/jobs/backup/']").click()
    page.locator("#bc-job-progress .bc-status-failed").wait_for(timeout=60_000)  # its server is not there
    assert "schedule sales-nightly" in page.locator("#bc-job-progress").inner_text()


# The text's colour and the first opaque background behind it.
COLOURS = """e => {
  let b = e;
  while (b && getComputedStyle(b).backgroundColor.replace(/\\s/g, "").match(/rgba\\(.*,0\\)|transparent/)) {
    b = b.parentElement;
  }
  return [getComputedStyle(e).color, b ? getComputedStyle(b).backgroundColor : "rgb(255, 255, 255)"];
}"""


def luminance(colour: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", colour)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    a, b = sorted([luminance(fg), luminance(bg)], reverse=True)
    return (a + 0.05) / (b + 0.05)


PAGE_SIDEWAYS = "() => document.scrollingElement.scrollWidth - window.innerWidth"
# A list wider than a phone scrolls inside its own box (the admin's div.results), which holds every column.
LIST_BOX = """() => [...document.querySelectorAll("#result_list")].map(t => {
  const box = t.closest(".results");
  return box ? getComputedStyle(box).overflowX : "no box";
})"""


def test_at_phone_width_no_page_scrolls_sideways_and_lists_scroll_in_their_own_box(served, shared_browser,
                                                                                    pagila_backup):
    url, _console, ids = served
    context = shared_browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, url, PASSWORD)
    problems = {}
    try:
        for name, path in main_pages(ids, pagila_backup):
            assert page.goto(url + path).status == 200, path
            page.wait_for_load_state("networkidle")
            screenshot(page, f"phone-{name}.png")
            wider = page.evaluate(PAGE_SIDEWAYS)
            boxes = page.evaluate(LIST_BOX)
            if wider > 0 or any(b not in ("auto", "scroll") for b in boxes):
                problems[name] = f"page {wider} px wider than the window; list boxes {boxes}"
        page.goto(f"{url}/admin/backups_app/backuprecord/")
        status = page.locator("#result_list tbody tr").first.locator("td.field-status_cell")
        assert status.count() == 1 and status.inner_text().strip(), "a backup's status is not in its row"
    finally:
        context.close()
    assert not problems, "at 390 px:\n" + "\n".join(f"  {k}: {v}" for k, v in problems.items())
