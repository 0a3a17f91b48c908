"""Names people type: a database to restore into, SCHEMA.TABLE, a target, a target's password variable.

The one set of rules for the admin's forms, the commands and the services, so
that a name one of them accepts is never refused by another. A database name
is plain (1 to 63 bytes of letters, digits, _ or -, starting with a letter or
_) and not one the server needs (template0, template1, postgres). A table is SCHEMA.TABLE, each part either plain
(letters, digits, _ or $, not starting with a digit) or double-quoted as
PostgreSQL writes it ("My Schema"."My Table", "" for a quote), at most 63
bytes. A target name is a slug, like the model's field. A target's password
variable is one TARGET_PASSWORD_VARIABLES allows (a name, or a prefix ending
in *) and never one of the console's own secrets: otherwise anyone who may
edit a target could send any secret of the console to a server of their
choosing.
"""

import re

from django.conf import settings
from django.core.validators import slug_re

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1: longer names are cut short by the server
MAX_TARGET_NAME = 100  # DatabaseTarget.name's max_length
MAX_SERVER_NAME = 40  # a server target's: its databases' targets are named server--database
# Refused as restore targets: the templates every new database is copied from, and the database
# tools (and this console) connect to when they need one to create or drop the others.
RESERVED = {"template0": "a template database", "template1": "a template database",
            "postgres": "the server's maintenance database"}

# Secrets of the console itself: never a target's password, whatever TARGET_PASSWORD_VARIABLES says.
CONSOLE_SECRETS = ("SECRET_KEY", "METRICS_TOKEN", "EMAIL_HOST_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
                   "AWS_SESSION_TOKEN", "DATABASE_URL", "REDIS_URL")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")

_DATABASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_IDENT = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")'
_TABLE = re.compile(rf"^({_IDENT})\.({_IDENT})$")
# A table list is split on spaces and commas, except inside double quotes; a stray quote stays
# in its word, so the word is refused rather than quietly changed.
_TABLE_WORD = re.compile(r'(?:"(?:[^"]|"")*"|[^\s,"]|")+')


class BadName(ValueError):
    """A name that breaks the rules; `rule` says which ("database", "template", "table", "target")."""

    def __init__(self, message: str, *, rule: str):
        super().__init__(message)
        self.rule = rule


def check_database(name: str) -> str:
    """The name, or BadName: a database the console may create, overwrite or drop."""
    if not name or len(name.encode()) > MAX_IDENTIFIER_BYTES or not _DATABASE.match(name):
        raise BadName(
            f"{name!r} is not a usable database name: use 1 to 63 letters, digits, _ or -, "
            "starting with a letter or _", rule="database",
        )
    if name in RESERVED:
        raise BadName(f"{name} is {RESERVED[name]}; restore into another name", rule="template")
    return name


def parse_table(text: str) -> tuple[str, str]:
    """'schema.table' (or '"My Schema"."My Table"') as (schema, table), unquoted as the archive names them."""
    m = _TABLE.match(text.strip())
    parts = (_unquote(m.group(1)), _unquote(m.group(2))) if m else ()
    if not parts or any(len(p.encode()) > MAX_IDENTIFIER_BYTES for p in parts):
        raise BadName(f"{text!r} is not a table name: write SCHEMA.TABLE, e.g. public.rental", rule="table")
    return parts


def split_tables(text: str) -> list[str]:
    """The table names in a list separated by spaces, commas or new lines (quoted names kept whole)."""
    return _TABLE_WORD.findall(text or "")


def is_target_name(name: str) -> bool:
    return bool(name) and len(name) <= MAX_TARGET_NAME and slug_re.match(name) is not None


def check_password_variable(name: str) -> str:
    """The name, or BadName: an environment variable a target may take its password from."""
    if name in console_secrets() or not any(_covers(entry, name) for entry in settings.TARGET_PASSWORD_VARIABLES):
        allowed = ", ".join(settings.TARGET_PASSWORD_VARIABLES) or "none"
        raise BadName(f"{name} is not a variable a target may take its password from (TARGET_PASSWORD_VARIABLES "
                      f"allows {allowed}): keep the password in one of those", rule="password_variable")
    return name


def console_secrets() -> set[str]:
    return {*CONSOLE_SECRETS, settings.BACKUP_AGE_IDENTITY_ENV}


def bad_password_variable_entries(entries) -> list[str]:
    """Entries of TARGET_PASSWORD_VARIABLES that are no name or prefix, or that would allow a console secret."""
    return [entry for entry in entries if not ENV_NAME.match(entry.removesuffix("*"))
            or any(_covers(entry, secret) for secret in console_secrets())]


def _covers(entry: str, name: str) -> bool:
    return name.startswith(entry[:-1]) if entry.endswith("*") else name == entry


def _unquote(part: str) -> str:
    return part[1:-1].replace('""', '"') if part.startswith('"') else part
