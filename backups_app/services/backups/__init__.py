"""Making backups: preflight, pg_dump into a private file, publish, log.

Owns the backup job from claim to a published, read-back file: the checks
before a byte is written, what to dump and how to judge it (postgres/dumping.py
runs it), the roles file saved beside a dump, exact row counts taken in
pg_dump's snapshot, backup_log.txt, and a schedule's run (back up, then prune
after a success).
"""
