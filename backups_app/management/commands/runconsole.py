"""`manage.py runconsole`: the web server and the worker together, for a single machine.

Production runs them as separate services instead (docs/deploy.md).
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from backups_app.management.cli import ConsoleCommand, in_range
from backups_app.services.jobs import supervisor
from backups_app.services.targets import lookup

MAX_STOP_TIMEOUT = 24 * 3600
MAX_THREADS = 256


class Command(ConsoleCommand):
    help = _("Run the web console (gunicorn) and the job worker (qcluster) together; Ctrl-C or SIGTERM stops both.")

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000",
                            help=_("address and port of the web console (default 127.0.0.1:8000)"))
        parser.add_argument("--stop-timeout", type=float, default=60,
                            help=_("seconds running jobs may take to finish when stopping, before they are "
                                 "interrupted (default 60; a second Ctrl-C interrupts at once)"))
        parser.add_argument("--threads", type=int, default=8, help=_("web server threads (default 8)"))

    def handle(self, *args, **opts):
        addrport = opts["addrport"] if ":" in opts["addrport"] else f"127.0.0.1:{opts['addrport']}"
        in_range(opts["stop_timeout"], "--stop-timeout", 0, MAX_STOP_TIMEOUT)
        in_range(opts["threads"], "--threads", 1, MAX_THREADS)
        lookup.sync_default()
        manage_py = Path(settings.BASE_DIR) / "manage.py"
        children = [
            supervisor.Child("web server", supervisor.web_argv(addrport, threads=opts["threads"])),
            supervisor.Child("worker", supervisor.worker_argv(manage_py, stop_timeout=opts["stop_timeout"])),
        ]
        self.stdout.write(f"Backup console on http://{addrport}/ with its worker; Ctrl-C stops both.")
        status = supervisor.Supervisor(children, stop_timeout=opts["stop_timeout"], out=self.stderr).run()
        if status:
            raise CommandError("a process of the console stopped unexpectedly; see the messages above")
        return "Stopped the web server and the worker"
