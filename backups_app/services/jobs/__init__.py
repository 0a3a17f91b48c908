"""The life of a job, whatever its kind: queued, claimed, kept alive, ended.

Owns job states and their transitions, each target's turn, the heartbeat and
the reaper, recovery after a job's process is gone (recovery.py, run by every
command too), handing jobs to django-q2 and stopping its cluster cleanly
(qcluster.py), schedules, and running the web server beside the worker
(runconsole).
"""
