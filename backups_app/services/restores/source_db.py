"""What a backup tells about its source database: the encoding and locale to create the new one with.

A custom archive always carries pg_dump's CREATE DATABASE statement (used by
pg_restore --create); a plain SQL dump made without --create only names its
client encoding, so the locale is then the server's default.
"""

import contextlib
import re

from backups_app.services.crypto import age
from backups_app.services.postgres import binaries, databases, reading, toc
from backups_app.services.storage import layout


def creation_options(backup, *, major: int) -> dict:
    path = backup.archive_path
    if backup.format in layout.ARCHIVE_FORMATS:
        return databases.options_from_create_statement(
            create_database_statement(path, major, dump_version=backup.pg_dump_version))
    return {"ENCODING": enc} if (enc := sql_client_encoding(path)) else {}


def create_database_statement(path, major: int, *, dump_version: str = "") -> str:
    with age.stdin_for(path) as stream:  # an encrypted archive: only its head is decrypted, twice
        contents = toc.read(path, server_major=major, stdin=stream, dump_version=dump_version)
    entry = next((e for e in contents.entries if e.kind == "DATABASE"), None)
    if entry is None:
        return ""
    tool = binaries.pg_restore_for(path, server_major=major, dump_version=dump_version)
    with toc.list_file([entry.line]) as listing, age.stdin_for(path) as stream:
        created = reading.archive_script(tool, path, stdin=stream, create=True, schema_only=True, use_list=listing)
    text = created.stdout.decode("utf-8", "replace")
    return next((line for line in text.splitlines() if line.startswith("CREATE DATABASE")), "")


def sql_client_encoding(path) -> str:
    """From the head of the script only: the decompressor (and age, for an encrypted one) is stopped after 64 kB."""
    with script(path) as lines:
        head = lines.read(64 * 1024).decode("utf-8", "replace")
    m = re.search(r"^SET client_encoding = '([^']+)';", head, re.MULTILINE)
    return m.group(1) if m else ""


@contextlib.contextmanager
def script(path, *, whole: bool = False):
    """A plain SQL backup's script as a stream of bytes, decompressed (and decrypted) on the way.

    whole: the reader reads it to the end (age is then waited for, and its
    failure raised); otherwise the reader may stop early and both are stopped.
    """
    with age.stdin_for(path, whole=whole) as stream, \
            reading.decompressed(age.plain(path), stdin=stream, whole=whole) as lines:
        yield lines
