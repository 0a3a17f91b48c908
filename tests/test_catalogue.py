"""The Japanese catalogue covers every text of the console, and what ships is what was translated.

A string added to the code without a Japanese translation fails here, listed by
its msgid: run `manage.py makemessages -l ja --ignore=.venv --ignore=tests
--add-location=file`, translate the new entries, then `manage.py compilemessages`.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.apps import apps
from django.utils import translation

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "backups_app" / "locale" / "ja" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# The same in both languages on purpose: names of formats and programs.
SAME_IN_JAPANESE = {"SHA-256", "ID"}


def untranslated(po: polib.POFile) -> list[str]:
    return [e.msgid for e in po if not e.obsolete and (not e.translated() or "fuzzy" in e.flags)]


def listing(msgids: list[str]) -> str:
    return "\n".join(f"  msgid {m!r}" for m in msgids)


def catalogue(entries) -> dict:
    def text(e):
        return tuple(e.msgstr_plural[k] for k in sorted(e.msgstr_plural)) if e.msgid_plural else e.msgstr
    return {(e.msgctxt, e.msgid): text(e) for e in entries if not e.obsolete and e.msgid}


def project_copy(tmp_path: Path) -> Path:
    """The console's sources and catalogue, without tests, virtualenv or local data."""
    copy = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("backups_app", "backupconsole"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=ignore)
    shutil.copy2(ROOT / "manage.py", copy / "manage.py")
    return copy


def test_every_entry_of_the_japanese_catalogue_is_translated():
    missing = untranslated(polib.pofile(str(PO)))
    assert not missing, f"{PO.relative_to(ROOT)} has entries with no (or a fuzzy) translation:\n{listing(missing)}"


@pytest.mark.requires("xgettext", "msgmerge", package="gettext")
def test_makemessages_finds_no_string_that_the_catalogue_lacks(tmp_path):
    copy = project_copy(tmp_path)
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var"), "LANGUAGE_CODE": "en"}
    subprocess.run([sys.executable, "manage.py", "makemessages", "-l", "ja", "--ignore=.venv", "--ignore=tests",
                    "--add-location=file"], cwd=copy, env=env, check=True, capture_output=True, text=True)
    regenerated = polib.pofile(str(copy / PO.relative_to(ROOT)))
    new = untranslated(regenerated)
    assert not new, ("strings in the code that the Japanese catalogue does not translate (new, or changed "
                     f"since they were translated):\n{listing(new)}\nRun makemessages -l ja, translate them, "
                     "then compilemessages.")


def test_the_compiled_catalogue_is_the_translated_one():
    shipped, source = catalogue(polib.mofile(str(MO))), catalogue(polib.pofile(str(PO)))
    stale = sorted(key[1] for key in source.keys() | shipped.keys() if source.get(key) != shipped.get(key))
    assert not stale, f"{MO.name} differs from {PO.name}; run manage.py compilemessages:\n{listing(stale)}"


def names_of_the_console_models():
    for model in apps.get_app_config("backups_app").get_models():
        opts = model._meta
        yield f"{model.__name__}", opts.verbose_name
        yield f"{model.__name__} (plural)", opts.verbose_name_plural
        for field in opts.get_fields():
            if hasattr(field, "verbose_name") and field.concrete and field.editable:
                yield f"{model.__name__}.{field.name}", field.verbose_name
    yield "app", apps.get_app_config("backups_app").verbose_name


def test_every_model_and_field_name_reads_japanese_in_japanese():
    english = []
    for where, name in names_of_the_console_models():
        with translation.override("en"):
            en = str(name)
        with translation.override("ja"):
            ja = str(name)
        if ja == en and en not in SAME_IN_JAPANESE:
            english.append(f"  {where}: {en!r}")
    assert not english, "names that stay English in Japanese:\n" + "\n".join(english)


def test_translation_functions_keep_the_names_makemessages_knows():
    # xgettext finds gettext_lazy(...) and _(...), but not gettext_lazy imported as _lazy: such
    # strings were marked, yet never reached the catalogue.
    alias = re.compile(r"import .*\b(n?p?gettext(?:_lazy|_noop)?) as (?!_\b)(\w+)")
    found = [f"{path.relative_to(ROOT)}: {m.group(0)}" for path in sorted((ROOT / "backups_app").rglob("*.py"))
             for m in alias.finditer(path.read_text())]
    assert not found, "rename these imports (keep gettext_lazy, or _):\n" + "\n".join(found)
