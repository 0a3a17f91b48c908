"""The life of a job, whatever its kind: queued, claimed, kept alive, ended.

Owns job states and their transitions, each target's turn, the heartbeat and
the reaper, handing jobs to django-q2, schedules, and running the web server
beside the worker (runconsole).
"""
