"""Databases on a server as a restore sees them (exist, empty, created, dropped), and as a server target lists them."""

import re

import psycopg
from psycopg import sql

from backups_app.services.postgres.connection import Conn, ConnectionFailed, conn_for, connect

MAINTENANCE_DATABASES = ("postgres", "template1")

USER_OBJECTS = """
SELECT kind || ' ' || name FROM (
  SELECT 'schema' AS kind, nspname::text AS name FROM pg_namespace
   WHERE nspname NOT IN ('public', 'information_schema') AND nspname !~ '^pg_'
  UNION ALL
  SELECT 'relation', format('%%I.%%I', n.nspname, c.relname) FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('information_schema') AND n.nspname !~ '^pg_'
  UNION ALL
  SELECT 'function', format('%%I.%%I', n.nspname, p.proname) FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname NOT IN ('information_schema') AND n.nspname !~ '^pg_'
  UNION ALL
  SELECT 'type', format('%%I.%%I', n.nspname, t.typname) FROM pg_type t
    JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE n.nspname NOT IN ('information_schema') AND n.nspname !~ '^pg_' AND t.typtype IN ('d', 'e', 'r', 'm')
  UNION ALL
  SELECT 'extension', extname::text FROM pg_extension WHERE extname <> 'plpgsql'
) o ORDER BY 1 LIMIT %s
"""


def maintenance(server) -> psycopg.Connection:
    """An autocommit connection for CREATE/DROP DATABASE, to whichever database lets us in."""
    first_error = None
    for dbname in dict.fromkeys((*MAINTENANCE_DATABASES, server.dbname)):
        try:
            return connect(conn_for(server, dbname), autocommit=True)
        except ConnectionFailed as exc:
            # Another database may let us in (pg_hba, CONNECT privilege); a wrong password or an
            # unreachable server will not change with the database name.
            if any(word in str(exc).lower() for word in _HOPELESS):
                raise
            first_error = first_error or exc
    raise first_error


_HOPELESS = ("password authentication failed", "no password supplied", "connection refused", "could not connect",
             "timeout", "could not translate host name")


def backed_up_names(mconn: psycopg.Connection) -> list[str]:
    """Every database a server target may back up: not a template, and taking connections."""
    rows = mconn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn "
                         "ORDER BY datname").fetchall()
    return [r[0] for r in rows]


def exists(mconn: psycopg.Connection, name: str) -> bool:
    return mconn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def user_objects(conn: Conn, *, limit: int = 5) -> list[str]:
    """A few of the database's own objects (empty list: nothing a restore could clash with)."""
    with connect(conn, autocommit=True) as c:
        return [r[0] for r in c.execute(USER_OBJECTS, (limit,)).fetchall()]


def is_superuser(mconn: psycopg.Connection) -> bool:
    return mconn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]


def create(mconn: psycopg.Connection, name: str, options: dict) -> str:
    """CREATE DATABASE from template0 with the source's encoding and locale where the server has them.

    Returns a note when it had to fall back (e.g. that locale does not exist here).
    """
    attempts = [options]
    if "ENCODING" in options:
        # The locale may not exist here, or not suit the encoding: the C locale suits every encoding.
        attempts += [{"ENCODING": options["ENCODING"]}, {"ENCODING": options["ENCODING"], "LOCALE": "C"}]
    if options:
        attempts.append({})
    attempts = [a for i, a in enumerate(attempts) if a not in attempts[:i]]
    errors = []
    for opts in attempts:
        try:
            mconn.execute(_create_sql(name, opts))
        except _UNSUITABLE_OPTIONS as exc:
            errors.append(exc)
            continue
        if not errors:
            return ""
        return f"created with {_describe(opts) or 'the server defaults'} ({_first_line(errors[0])})"
    raise errors[0]


# Unknown locale (42809), locale not suiting the encoding (22023), option unknown to an older server (42601).
_UNSUITABLE_OPTIONS = (psycopg.errors.WrongObjectType, psycopg.errors.InvalidParameterValue,
                       psycopg.errors.SyntaxError, psycopg.errors.FeatureNotSupported,
                       psycopg.errors.UndefinedObject)


def _create_sql(name: str, opts: dict) -> sql.Composed:
    parts = [sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))]
    for key, value in opts.items():
        if key == "LOCALE_PROVIDER":
            parts.append(sql.SQL(f"LOCALE_PROVIDER {'icu' if value == 'icu' else 'libc'}"))
        else:
            parts.append(sql.SQL(key + " {}").format(sql.Literal(value)))
    return sql.SQL(" ").join(parts)


def _describe(opts: dict) -> str:
    return ", ".join(f"{k.lower()} {v}" for k, v in opts.items())


def _first_line(exc) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def drop(mconn: psycopg.Connection, name: str) -> None:
    mconn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


_CREATE_OPTION = re.compile(r"\b(ENCODING|LOCALE_PROVIDER|LOCALE|LC_COLLATE|LC_CTYPE|ICU_LOCALE)\s*=\s*"
                            r"('(?:[^']|'')*'|\w+)")


def options_from_create_statement(statement: str) -> dict:
    """ENCODING/LOCALE... of pg_dump's CREATE DATABASE line, in an order CREATE DATABASE accepts."""
    found = {}
    for key, raw in _CREATE_OPTION.findall(statement):
        found[key] = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw
    if "LOCALE" in found:
        found.pop("LC_COLLATE", None)
        found.pop("LC_CTYPE", None)
    return found


def present_checker(conn: psycopg.Connection):
    """present(entry) for toc.select_tables: does this object already exist in the database?"""
    queries = {
        "SCHEMA": ("SELECT 1 FROM pg_namespace WHERE nspname = %s", lambda e: (e.name,)),
        "EXTENSION": ("SELECT 1 FROM pg_extension WHERE extname = %s", lambda e: (e.name,)),
        "TYPE": ("SELECT to_regtype(%s)", _qualified_quoted),
        "DOMAIN": ("SELECT to_regtype(%s)", _qualified_quoted),
        "FUNCTION": ("SELECT to_regprocedure(%s)", _routine),
        "PROCEDURE": ("SELECT to_regprocedure(%s)", _routine),
        "AGGREGATE": ("SELECT to_regprocedure(%s)", _routine),
        "SEQUENCE": ("SELECT to_regclass(%s)", _qualified_quoted),
        "TABLE": ("SELECT to_regclass(%s)", _qualified_quoted),
        "FOREIGN TABLE": ("SELECT to_regclass(%s)", _qualified_quoted),
        "INDEX": ("SELECT to_regclass(%s)", _qualified_quoted),
        "CONSTRAINT": ("SELECT 1 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
                       "WHERE n.nspname = %s AND c.conname = %s", _constraint),
        "COLLATION": ("SELECT to_regcollation(%s)", _qualified_quoted),
    }

    def present(entry) -> bool:
        if entry.kind not in queries:
            return False
        query, params = queries[entry.kind]
        row = conn.execute(query, params(entry)).fetchone()
        return row is not None and row[0] is not None

    return present


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _qualified_quoted(entry):
    return (f"{_quote(entry.schema)}.{_quote(entry.name)}",)


def _routine(entry):
    name, _, args = entry.name.partition("(")
    return (f"{_quote(entry.schema)}.{_quote(name)}({args}",)


def _constraint(entry):
    return (entry.schema, entry.name.split(" ", 1)[-1])


def can_create(mconn: psycopg.Connection) -> bool:
    row = mconn.execute("SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user").fetchone()
    return bool(row and row[0])


def clearing_script(conn: psycopg.Connection) -> str:
    """SQL that empties a database of everything a dump could create, keeping the database itself.

    Run in the same transaction as the restore that follows it, so a failed
    overwrite changes nothing. The public schema comes back with the owner,
    grants and comment it had here.
    """
    def names(query):
        return [r[0] for r in conn.execute(query).fetchall()]

    statements = ["SET client_min_messages = warning;"]
    for ext in names("SELECT quote_ident(extname) FROM pg_extension WHERE extname <> 'plpgsql'"):
        statements.append(f"DROP EXTENSION IF EXISTS {ext} CASCADE;")
    for trigger in names("SELECT quote_ident(evtname) FROM pg_event_trigger"):
        statements.append(f"DROP EVENT TRIGGER IF EXISTS {trigger};")
    for pub in names("SELECT quote_ident(pubname) FROM pg_publication"):
        statements.append(f"DROP PUBLICATION IF EXISTS {pub};")
    for fdw in names("SELECT quote_ident(fdwname) FROM pg_foreign_data_wrapper w WHERE NOT EXISTS "
                     "(SELECT 1 FROM pg_depend d WHERE d.objid = w.oid AND d.deptype = 'e')"):
        statements.append(f"DROP FOREIGN DATA WRAPPER IF EXISTS {fdw} CASCADE;")
    for schema in names("SELECT quote_ident(nspname) FROM pg_namespace "
                        "WHERE nspname <> 'information_schema' AND nspname !~ '^pg_' ORDER BY 1"):
        statements.append(f"DROP SCHEMA IF EXISTS {schema} CASCADE;")
    statements += _public_schema_as_it_was(conn)
    statements.append("SELECT count(lo_unlink(oid)) FROM pg_largeobject_metadata;")
    return "\n".join(statements) + "\n"


def _public_schema_as_it_was(conn: psycopg.Connection) -> list[str]:
    row = conn.execute("SELECT oid, quote_ident(nspowner::regrole::text), "
                       "obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = 'public'").fetchone()
    if row is None:
        return ["CREATE SCHEMA public;"]
    oid, owner, comment = row
    out = [f"CREATE SCHEMA public AUTHORIZATION {owner};"]
    grants = conn.execute(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END, "
        "a.privilege_type, a.is_grantable FROM pg_namespace n, aclexplode(n.nspacl) a "
        "WHERE n.oid = %s AND a.grantee <> n.nspowner", (oid,)).fetchall()
    for grantee, privilege, grantable in grants:
        out.append(f"GRANT {privilege} ON SCHEMA public TO {grantee}{' WITH GRANT OPTION' if grantable else ''};")
    if comment is not None:
        out.append(sql.SQL("COMMENT ON SCHEMA public IS {};").format(sql.Literal(comment)).as_string(conn))
    return out
