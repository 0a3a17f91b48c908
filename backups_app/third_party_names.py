"""Names of django-q2's and django-axes' admin pages, which every page's menu lists.

Neither ships a Japanese catalogue; marking its names here puts them in
the console's, which Django consults first (LOCALE_PATHS).
"""

from django.utils.translation import gettext_noop

DJANGO_Q_MENU = [
    gettext_noop("Failed tasks"),
    gettext_noop("Queued tasks"),
    gettext_noop("Scheduled tasks"),
    gettext_noop("Successful tasks"),
]

# django-axes (login throttling): the failed sign-ins superusers see and can delete.
AXES_MENU = [
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
]
