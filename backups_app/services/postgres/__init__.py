"""Talking to PostgreSQL: the one client layer.

Owns connection settings and passwords (never in argv), which client program
(pg_dump, pg_restore, pg_dumpall, psql) runs for which server or archive, the
argument lists and environment they run with, and running them as child
processes with the pipes between them and the compressors and age (also
initdb and pg_ctl for the demo cluster); reading an archive's table of
contents, databases on a server as a restore sees them, and scrubbing secrets
out of anything a person can read. Nothing outside this package builds a
command line for those programs or starts one.
"""
