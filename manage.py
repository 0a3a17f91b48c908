#!/usr/bin/env python
import gc
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backupconsole.settings")
    # Start-up builds tens of thousands of objects that live as long as the process: the
    # cyclic collector would only walk them again and again. BackupsAppConfig.ready() turns
    # it back on once the apps are loaded, with those objects set aside (gc.freeze).
    gc.disable()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
