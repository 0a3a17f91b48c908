"""Compare two databases the way a restore must be judged: objects per kind and rows per table."""

OBJECT_COUNTS = {
    "tables": "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
              "WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema') "
              "AND n.nspname NOT LIKE 'pg_toast%'",
    "views": "SELECT count(*) FROM pg_views WHERE schemaname NOT IN ('pg_catalog','information_schema')",
    "materialized views": "SELECT count(*) FROM pg_matviews",
    "functions": "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                 "WHERE n.nspname NOT IN ('pg_catalog','information_schema')",
    "sequences": "SELECT count(*) FROM pg_sequences",
    "indexes": "SELECT count(*) FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog','information_schema')",
    "constraints": "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
                   "WHERE n.nspname NOT IN ('pg_catalog','information_schema') "
                   "AND c.contype <> 'n'",  # NOT NULL, a row of its own only from PostgreSQL 18 on
    "triggers": "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal",
    "types": "SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
             "WHERE t.typtype IN ('d','e') AND n.nspname NOT IN ('pg_catalog','information_schema')",
}


def object_counts(cluster, dbname) -> dict:
    with cluster.connect(dbname) as c:
        return {kind: c.execute(q).fetchone()[0] for kind, q in OBJECT_COUNTS.items()}


def row_counts(cluster, dbname) -> dict:
    with cluster.connect(dbname) as c:
        tables = c.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
            "AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
            "ORDER BY 1"
        ).fetchall()
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for (t,) in tables}
