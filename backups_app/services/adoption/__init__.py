"""Adoption: records again for backup files that no record knows (a lost console database, the old script)."""
