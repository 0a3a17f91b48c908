"""Why a backup was deleted, as a code and its numbers; in words only when someone reads it.

A prune stores `{"code": ..., "days": ..., "by": ...}` on the record
(`pruned_why`), and the English words in `pruned_reason` for the command line
and old readers. Pages say it in the reader's language. Rows pruned before
the codes keep their words; the migration that added the codes read the
English and Japanese sentences of those days back into codes.
"""

import re

from django.utils import translation
from django.utils.translation import gettext as _

from backups_app.services.jobs import origin

OLDER_THAN, NO_RULE, LEFTOVER = "older_than", "no_rule", "leftover"


def deleted(keep_days: int | None) -> dict:
    """The code of a backup no rule keeps."""
    return {"code": OLDER_THAN, "days": keep_days} if keep_days else {"code": NO_RULE}


def words(why: dict) -> str:
    """The reason in the active language, with who started the prune."""
    code = why.get("code")
    if code == OLDER_THAN:
        text = _("deleted: older than %(days)s days and no rule keeps it") % {"days": why.get("days")}
    elif code == LEFTOVER:
        text = _("deleted: file left by a failed attempt")
    else:
        text = _("deleted: no rule keeps it")
    if why.get("by"):
        who = origin.words(*origin.parse(why["by"]))
        text = _("%(reason)s (started by %(who)s)") % {"reason": text, "who": who}
    return text


def english(why: dict) -> str:
    """The words stored in pruned_reason, as they always read: "deleted: ... [who]"."""
    with translation.override("en"):
        text = words({k: v for k, v in why.items() if k != "by"})
    return text + (f" [{why['by']}]" if why.get("by") else "")


_OLD = [
    (re.compile(r"^deleted: older than (?P<days>\d+) days and no rule keeps it$"), OLDER_THAN),
    (re.compile(r"^削除: (?P<days>\d+) 日より古く、残すルールがありません$"), OLDER_THAN),
    (re.compile(r"^(?:deleted: no rule keeps it|削除: 残すルールがありません)$"), NO_RULE),
    (re.compile(r"^(?:deleted: file left by a failed attempt|削除: 失敗した実行が残したファイル)$"), LEFTOVER),
]
_BY = re.compile(r" \[(?P<by>[^\]]+)\]$")


def parse(text: str) -> dict:
    """The code of a reason stored as words before codes (English or Japanese); {} when not one of them."""
    by = _BY.search(text or "")
    body = _BY.sub("", text or "")
    for pattern, code in _OLD:
        if found := pattern.match(body):
            why = {"code": code, **({"days": int(found["days"])} if "days" in found.groupdict() else {})}
            return {**why, **({"by": by["by"]} if by else {})}
    return {}
