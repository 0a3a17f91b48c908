"""Restoring a backup: into a new database, over an existing one, or single tables.

Owns the refusals made before anything is created, the run itself (modes,
encoding and locale of a new database), TimescaleDB's restore procedure, and
the safety backup taken before an overwrite.
"""
