"""Names of django-q2's admin pages, which every page's menu lists.

django-q2 ships no Japanese catalogue; marking its names here puts them in
the console's, which Django consults first (LOCALE_PATHS).
"""

from django.utils.translation import gettext_noop

DJANGO_Q_MENU = [
    gettext_noop("Failed tasks"),
    gettext_noop("Queued tasks"),
    gettext_noop("Scheduled tasks"),
    gettext_noop("Successful tasks"),
]
