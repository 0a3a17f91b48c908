"""Which backups to keep and which to delete, and deleting them.

Owns the pure plan (keep-days, keep-last, grandfather-father-son periods),
pruning by that plan, the preview the admin shows, pins (legal hold) and the
report of files no record accounts for.
"""
