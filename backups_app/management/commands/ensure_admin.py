"""`manage.py ensure_admin`: the first superuser, whose random password is printed once."""

from pathlib import Path

from django.conf import settings
from django.core.management import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from backups_app.management.cli import ConsoleCommand, in_range
from backups_app.services.setup.admin_user import admin_ensure, migrated


class Command(ConsoleCommand):
    help = gettext_lazy("Create the superuser with a random password when it does not exist yet (idempotent).")

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password-file", type=Path, default=None,
                            help=gettext_lazy("where the new password is also kept, mode 0600 "
                                       "(default: VAR_DIR/admin-password)"))
        parser.add_argument("--reset-password", action="store_true",
                            help=gettext_lazy("give an existing user a new random password"))
        parser.add_argument("--wait", type=int, default=120, metavar="SECONDS",
                            help=gettext_lazy("how long to wait for the console database to be migrated "
                                              "(a container's web role migrates as it starts; default 120)"))

    def handle(self, *args, **opts):
        path = opts["password_file"] or Path(settings.VAR_DIR) / "admin-password"
        in_range(opts["wait"], "--wait", 0, 3600)
        if not migrated(within=opts["wait"]):
            raise CommandError(_("the console database is not migrated after %(n)d s: start the web role, which "
                                 "migrates, or run: python manage.py migrate") % {"n": opts["wait"]})
        result = admin_ensure(username=opts["username"], password_file=path, reset=opts["reset_password"])
        if result.password is None:
            return _("Superuser %(user)s exists; its password is unchanged (the one it was given is in %(path)s; "
                     "change it with: python manage.py changepassword %(user)s)") % {
                "user": result.username, "path": path}
        return _("Superuser %(user)s %(state)s with password: %(password)s (kept in %(path)s, mode 0600)") % {
            "user": result.username,
            "state": pgettext("superuser", "created") if result.state == "created" else pgettext("superuser", "reset"),
            "password": result.password, "path": path}
