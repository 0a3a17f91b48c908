#!/usr/bin/env python
import gc
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backupconsole.settings")
    # The console database holds session keys and the secret key sits beside it: whatever this
    # process (migrate, runconsole, qcluster, cron's backup) creates is its owner's alone,
    # whatever umask the shell had. SQLite gives -wal and -shm the database file's mode.
    os.umask(0o077)
    # Start-up builds tens of thousands of objects that live as long as the process: the
    # cyclic collector would only walk them again and again. BackupsAppConfig.ready() turns
    # it back on once the apps are loaded, with those objects set aside (gc.freeze).
    gc.disable()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
