"""The admin history (LogEntry) of what an API call changed: the token's user, and the token's name."""

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.utils.translation import gettext as _


def changed(request, obj, message: str) -> None:
    _log(request, obj, message, CHANGE)


def added(request, obj, message: str) -> None:
    _log(request, obj, message, ADDITION)


def _log(request, obj, message: str, flag: int) -> None:
    text = _("%(message)s (through the API, token “%(token)s”)") % {"message": message, "token": request.auth.name}
    LogEntry.objects.log_actions(user_id=request.user.pk, queryset=[obj], action_flag=flag, change_message=text,
                                 single_object=True)
