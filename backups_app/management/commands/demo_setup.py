"""`manage.py demo_setup`: a private demo PostgreSQL cluster with sample FX data to back up."""

from pathlib import Path

import psycopg
from django.conf import settings
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from humanize import naturalsize

from backups_app.management.cli import ConsoleCommand, in_range
from backups_app.services.postgres.connection import ConnectionFailed, conn_for
from backups_app.services.postgres.scrub import scrub
from backups_app.services.setup import demo, demo_data
from backups_app.services.targets import agreement, lookup
from backups_app.services.targets.lookup import UnknownTarget, get_target

MAX_TICKS_PER_PAIR = 10_000_000  # a few GB of sample data; more is a typo


def default_dir() -> Path:
    return Path(settings.DEMO_PG_DIR)


class Command(ConsoleCommand):
    help = gettext_lazy("Start (creating when missing) a demo PostgreSQL cluster holding sample FX data, or stop it.")

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=None,
                            help=gettext_lazy("folder of the demo cluster (default: DEMO_PG_DIR, or VAR_DIR/demo-pg)"))
        parser.add_argument("--stop", action="store_true", help=gettext_lazy("stop the demo cluster and exit"))
        parser.add_argument("--remove", action="store_true",
                            help=gettext_lazy("stop the demo cluster and delete it with its data, then exit"))
        parser.add_argument("--seed-target", metavar="NAME",
                            help=gettext_lazy("instead of a demo cluster, put the sample tables into this existing "
                                              "target's database (e.g. default); nothing is added when fx_ticks "
                                              "already has rows"))
        parser.add_argument("--ticks-per-pair", type=int, default=10_000,
                            help=gettext_lazy("sample ticks per currency pair on first seeding"))

    def handle(self, *args, **opts):
        in_range(opts["ticks_per_pair"], "--ticks-per-pair", 1, MAX_TICKS_PER_PAIR)
        directory = opts["dir"] or default_dir()
        try:
            if opts["seed_target"]:
                return self.seed_target(opts["seed_target"], opts["ticks_per_pair"])
            if opts["remove"]:
                removed = demo.cluster_remove(directory=directory)
                return "Demo PostgreSQL removed: " + ", ".join(str(p) for p in removed)
            if opts["stop"]:
                stopped = demo.cluster_stop(directory=directory)
                return _("Demo PostgreSQL stopped") if stopped else _("Demo PostgreSQL was not running")
            before = demo.load(directory=directory.resolve())
            cluster = demo.cluster_ensure(directory=directory)
            if before is not None and before.port != cluster.port:  # restarted on a free port: same server
                lookup.server_moved(host=demo.HOST, old_port=before.port, new_port=cluster.port)
            seeded = demo_data.fx_seed(conn=cluster.conn(), ticks_per_pair=opts["ticks_per_pair"])
        except (demo.DemoError, ConnectionFailed) as exc:
            raise CommandError(str(exc)) from None
        except psycopg.Error as exc:
            raise CommandError(_("sample data could not be written: %s") % scrub(" ".join(str(exc).split()))) from None
        return _("Demo PostgreSQL on %(host)s:%(port)s, database %(db)s (%(ticks)s ticks, %(rows)s analysis "
                 "rows, %(size)s); connection settings in %(env)s") % {
            "host": demo.HOST, "port": cluster.port, "db": demo.DBNAME, "ticks": seeded.ticks,
            "rows": seeded.analysis_rows, "size": naturalsize(seeded.database_bytes, binary=True),
            "env": cluster.env_file,
        }

    def seed_target(self, name, ticks_per_pair):
        try:
            target = get_target(name)
            agreement.require(target)  # sample tables go only onto the server the target names
        except (UnknownTarget, agreement.Disagreement) as exc:
            raise CommandError(str(exc)) from None
        seeded = demo_data.fx_seed(conn=conn_for(target), ticks_per_pair=ticks_per_pair)
        return _("Sample FX data in %(db)s of target %(target)s: %(ticks)s ticks, %(rows)s analysis rows%(note)s") % {
            "db": target.dbname, "target": target.name, "ticks": seeded.ticks, "rows": seeded.analysis_rows,
            "note": "" if seeded.created else _(" (already there; nothing added)"),
        }
