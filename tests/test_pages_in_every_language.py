"""Every page of the console, in Japanese, shows no English text of the console; in English, no Japanese.

Japanese pages are checked two ways: no source text of the catalogue appears
untranslated (marked, but not translated, or translated once at import), and no
run of three English words appears at all (a text nobody marked). Names,
paths, program names and pg_dump's own messages are data, not the console's.
"""

import re
from html.parser import HTMLParser

import polib
import pytest
from django.urls import reverse
from django.utils.text import capfirst

from tests.admin_support import changelist, post_action
from tests.console_contents import FOREIGN_TEXTS, fill_console
from tests.test_catalogue import PO

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.admin_fixtures"]

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")
ENGLISH_PHRASE = re.compile(r"\b[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,}){2,}\b")
COMMAND = re.compile(r"manage\.py [\w-]+")  # a command line quoted in a text names commands, in English
DATA_TOKEN = re.compile(r"\S*[\d/_.#:@=\\]\S*")  # paths, numbers, dates, program and setting names
# Words that are the same in Japanese writing: products, programs, formats.
NAMES = ["PostgreSQL", "TimescaleDB", "SQL", "cron", "Webhook", "Slack", "Mattermost", "JSON", "POST", "GRANT",
         "REVOKE", "Apprise", "URL", "SHA-256", "ID", "MiB", "KiB", "GiB", "libpq", "pgpass", "trust", "peer",
         "Asia", "Tokyo", "Django", "sales", "ledger", "orders", "ticks", "admin", "root"]

TYPED_IN = {"databasetarget", "retentionpolicy", "backupschedule", "notificationchannel"}  # the others: by actions


class VisibleText(HTMLParser):
    """The words a reader sees: text outside script and style, plus titles, labels of buttons and options."""

    def __init__(self):
        super().__init__()
        self.parts, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "style"):
            self.hidden += 1
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])
        for name in ("title", "placeholder", "aria-label"):
            if attrs.get(name):
                self.parts.append(attrs[name])

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    text = " ".join(" ".join(parser.parts).split())
    for foreign in FOREIGN_TEXTS:
        text = text.replace(foreign, " ")
    return text


def words_only(text: str) -> str:
    text = DATA_TOKEN.sub(" ", COMMAND.sub(" ", text))
    for name in NAMES:
        text = re.sub(rf"\b{re.escape(name)}\b", " ", text, flags=re.I)
    return text


def source_texts() -> list[str]:
    """The catalogue's msgids that read differently in Japanese and have no placeholders."""
    found = []
    for e in polib.pofile(str(PO)):
        if e.obsolete or e.msgid_plural or "%" in e.msgid or "{" in e.msgid or e.msgstr == e.msgid:
            continue
        found.append(e.msgid)
    return found


def untranslated_in(html: str) -> list[str]:
    text = words_only(visible_text(html))
    left = [m for m in source_texts()
            if re.search(rf"(?<![\w-]){re.escape(m)}(?![\w-])", text, re.I) and m not in NAMES]
    left += [f"(unmarked?) {p}" for p in ENGLISH_PHRASE.findall(text)]
    return left


@pytest.fixture
def pages(superuser_client, backup_root):
    """(name, response) for every page of the console, asked for in the language given."""
    made = fill_console()
    client = superuser_client

    def admin_url(model, view="changelist", *args):
        return reverse(f"admin:backups_app_{model}_{view}", args=args)

    def render(language):
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
        found = [("dashboard", client.get(reverse("admin:index"))),
                 ("app index", client.get(reverse("admin:app_list", args=["backups_app"])))]
        for model, obj in [("databasetarget", made["target"]), ("backuprecord", made["backup"]),
                           ("restorerecord", made["restore"]), ("verificationrecord", made["verification"]),
                           ("retentionpolicy", made["policy"]), ("backupschedule", made["schedule"]),
                           ("notificationchannel", made["channel"]), ("notification", made["notification"])]:
            found.append((f"{model} list", client.get(admin_url(model))))
            found.append((f"{model} page", client.get(admin_url(model, "change", obj.pk))))
            found.append((f"{model} history", client.get(admin_url(model, "history", obj.pk))))
            if model in TYPED_IN:
                found.append((f"{model} add", client.get(admin_url(model, "add"))))
                found.append((f"{model} add, refused", client.post(admin_url(model, "add"), {})))
        found += [
            ("orphans", client.get(reverse("admin:backups_app_retentionpolicy_orphans"))),
            ("backup now", post_action(client, "databasetarget", "backup_now", [made["target"]])),
            ("verify", post_action(client, "backuprecord", "verify_backup", [made["backup"]])),
            ("pin", post_action(client, "backuprecord", "pin_backup", [made["backup"]])),
            ("restore", post_action(client, "backuprecord", "restore_backup", [made["backup"]])),
            ("restore, refused", post_action(client, "backuprecord", "restore_backup", [made["backup"]],
                                             apply=True, into="", overwrite="on")),
            ("prune now", post_action(client, "retentionpolicy", "prune_now", [made["policy"]])),
            ("policy preview", client.post(admin_url("retentionpolicy", "change", made["policy"].pk), {
                "name": made["policy"].name, "target": made["target"].pk, "keep_days": 1, "min_keep": 1,
                "enabled": "on"})),
            ("test connection", client.post(changelist("databasetarget"), {
                "action": "test_connection", "_selected_action": [made["target"].pk]}, follow=True)),
        ]
        return found

    return render


def test_every_page_in_japanese_shows_only_japanese_words_of_the_console(pages, settings):
    settings.LANGUAGE_CODE = "ja"
    problems = {}
    for name, response in pages("ja"):
        assert response.status_code == 200, name
        html = response.content.decode()
        assert '<html lang="ja"' in html, name
        left = untranslated_in(html)
        if left:
            problems[name] = left
    assert not problems, "English on Japanese pages:\n" + "\n".join(f"  {k}: {v}" for k, v in problems.items())


def test_every_page_in_english_is_all_english(pages):
    problems = {}
    for name, response in pages("en"):
        assert response.status_code == 200, name
        text = visible_text(response.content.decode())
        for data in ("売上", "監査", "本番: 14日", "運用チーム"):
            text = text.replace(data, "")
        if CJK.search(text):
            problems[name] = sorted(set(re.findall(rf".{{0,20}}{CJK.pattern}+.{{0,20}}", text)))
    assert not problems, "Japanese on English pages:\n" + "\n".join(f"  {k}: {v}" for k, v in problems.items())


def test_the_check_finds_a_text_left_in_english():
    # A page that shows a translated source text untranslated, or an unmarked sentence, is caught.
    assert untranslated_in("<p>Retention policies</p>") == ["retention policies"]
    assert untranslated_in("<p>Nothing was marked here</p>") == ["(unmarked?) Nothing was marked here"]
    assert untranslated_in(f"<p>{capfirst('libpq サービス名')} sales_daily_1.dump 12.0 MiB</p>") == []
