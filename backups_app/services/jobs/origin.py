"""Who started a job, as data: a kind (a person, a schedule, the command line ...) and a name.

Services keep writing `started_by` in English words as before (the command
line, backup_log.txt and notifications read it); `parse` turns those words
into the kind and name stored beside them, and the pages put them back into
words in the reader's language (`words`). A user name has no spaces, so the
phrases below never mistake a person for a schedule. The migration that
filled the kinds of old rows uses the same `parse`.
"""

import re

from django.utils.translation import gettext as _

USER, SCHEDULE, COMMAND, SAFETY, DRILL, ADOPTED, OTHER = (
    "user", "schedule", "command", "safety", "drill", "adopted", "other")

COMMAND_LINE = "command line"
_PATTERNS = [
    (re.compile(r"^schedule (?P<name>.+)$"), SCHEDULE),
    (re.compile(r"^safety backup before restore #(?P<name>\d+)$"), SAFETY),
    (re.compile(r"^drill of verification #(?P<name>\d+)$"), DRILL),
    (re.compile(r"^adopted from its file$"), ADOPTED),
    (re.compile(r"^command line$"), COMMAND),
]


def parse(started_by: str) -> tuple[str, str]:
    """(kind, name) of the English words a service wrote; ("", "") for none."""
    text = (started_by or "").strip()
    if not text:
        return "", ""
    for pattern, kind in _PATTERNS:
        if found := pattern.match(text):
            return kind, found.groupdict().get("name", "")
    return (USER, text) if " " not in text else (OTHER, text)


def fields(started_by: str) -> dict:
    """The model fields for a job started by these words (started_by, origin, origin_name)."""
    kind, name = parse(started_by)
    return {"started_by": (started_by or "")[:150], "origin": kind, "origin_name": name[:150]}


def words(kind: str, name: str) -> str:
    """Who started it, in the active language."""
    if kind == USER:
        return name
    texts = {SCHEDULE: _("schedule %(name)s"), SAFETY: _("safety backup before restore #%(name)s"),
             DRILL: _("drill of verification #%(name)s"), ADOPTED: _("adopted from its file"),
             COMMAND: _("command line")}
    return texts[kind] % {"name": name} if kind in texts else name


def of(record) -> str:
    """Who started a job row, in the active language; rows older than the kinds read from their words."""
    kind, name = (record.origin, record.origin_name) if record.origin else parse(record.started_by)
    return words(kind, name)
