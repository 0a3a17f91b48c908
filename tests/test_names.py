"""The restore form, the restore command and the restore service accept and refuse the same names."""

import pytest
from django.core.management import CommandError, call_command

from backups_app.forms import RestoreForm
from backups_app.models import BackupRecord, DatabaseTarget
from backups_app.services.postgres import names
from backups_app.services.restores import restore

pytestmark = pytest.mark.django_db

GOOD_DATABASES = ["pagila_copy", "_scratch", "sales-2024", "CamelCase", "a" * 63]
BAD_DATABASES = ["", "a$b", "price$", "1st_copy", "a b", "x;drop", 'quo"te', "a" * 64, "é" * 32, "données",
                 "template0", "template1"]
GOOD_TABLES = ["public.rental", "public.a$b", '"My Schema"."My Table"', 'public."odd.name, with comma"',
               '"a""b".c', "s." + "t" * 63, 'public."' + "t" * 63 + '"']
BAD_TABLES = ["rental", "public.", ".rental", '"".rental', 'public.""', "public.1st", "a.b.c", "public.my-table",
              '"unclosed.rental', "public." + "t" * 64, 'public."' + "t" * 64 + '"']


@pytest.fixture
def backup(backup_root):
    """A succeeded custom backup on a server nobody listens on: the service refuses before or at connecting."""
    target = DatabaseTarget.objects.create(name="closed", host="127.0.0.1", port=1, dbname="source")
    path = backup_root / "database" / "manual" / "closed.dump"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not really an archive")
    return BackupRecord.objects.create(target=target, backup_type="manual", format="custom", status="succeeded",
                                       path="database/manual/closed.dump", size_bytes=path.stat().st_size)


def form_accepts(field, **data):
    return field not in RestoreForm({"into": "copy", "jobs": "1", **data}).errors


def service_refuses_the_name(backup, **kwargs):
    """True when restore_create refuses because of a name, False when it gets past the names."""
    with pytest.raises(restore.RestoreRefused) as refusal:
        restore.restore_create(backup=backup, **{"into": "copy", **kwargs})
    message = str(refusal.value)
    return any(words in message for words in ("not a usable database name", "template database",
                                              "is not a table name"))


def command_refuses_the_name(backup, *args):
    with pytest.raises(CommandError) as refusal:
        call_command("restore", str(backup.pk), *args)
    return any(words in str(refusal.value) for words in ("not a usable database name", "template database",
                                                        "is not a table name"))


@pytest.mark.parametrize("name", GOOD_DATABASES)
def test_a_good_database_name_passes_the_form_the_command_and_the_service(backup, name):
    assert form_accepts("into", into=name)
    assert not service_refuses_the_name(backup, into=name)
    assert not command_refuses_the_name(backup, "--into", name)
    assert names.check_database(name) == name


@pytest.mark.parametrize("name", BAD_DATABASES)
def test_a_bad_database_name_is_refused_by_the_form_the_command_and_the_service(backup, name):
    assert not form_accepts("into", into=name)
    assert service_refuses_the_name(backup, into=name)
    assert command_refuses_the_name(backup, "--into", name)


@pytest.mark.parametrize("table", GOOD_TABLES)
def test_a_good_table_name_passes_the_form_the_command_and_the_service(backup, table):
    f = RestoreForm({"into": "copy", "jobs": "1", "tables": f"public.film, {table}\n"})
    assert f.is_valid(), f.errors
    assert f.cleaned_data["tables"] == ["public.film", table]
    assert not service_refuses_the_name(backup, tables=[table])
    assert not command_refuses_the_name(backup, "--into", "copy", "--table", table)


@pytest.mark.parametrize("table", BAD_TABLES)
def test_a_bad_table_name_is_refused_by_the_form_the_command_and_the_service(backup, table):
    assert not form_accepts("tables", tables=table)
    assert service_refuses_the_name(backup, tables=[table])
    assert command_refuses_the_name(backup, "--into", "copy", "--table", table)


def test_quoted_parts_come_back_as_the_archive_names_them():
    assert names.parse_table('"My Schema"."My ""Table"""') == ("My Schema", 'My "Table"')
    assert names.parse_table(" public.rental ") == ("public", "rental")


def test_a_table_list_splits_on_spaces_and_commas_but_not_inside_quotes():
    assert names.split_tables('public.a,public.b\n "x y"."z, w"  s.t,,') == [
        "public.a", "public.b", '"x y"."z, w"', "s.t"]


@pytest.mark.parametrize("name, ok", [("default", True), ("main-db_2", True), ("a" * 100, True), ("a" * 101, False),
                                      ("a b", False), ("", False), ("naïve", False)])
def test_a_target_name_follows_the_models_slug_rule(name, ok):
    field = DatabaseTarget._meta.get_field("name")
    assert field.max_length == names.MAX_TARGET_NAME
    assert names.is_target_name(name) == ok
    try:
        field.run_validators(name)
        field_ok = bool(name)
    except Exception:
        field_ok = False
    assert field_ok == ok
