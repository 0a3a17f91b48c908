"""What a schedule's slot runs: a backup then pruning, a verification, or a restore drill.

Above backups, retention and verify, which it calls; the schedules themselves
(django-q2 rows, cron strings, summer time, one run per slot) are jobs/schedules.py.
"""
