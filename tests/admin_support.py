"""Helpers of the admin tests: posting actions as the changelist does, reading messages and menus."""

import re

from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils.html import strip_tags


def changelist(model: str) -> str:
    return reverse(f"admin:backups_app_{model}_changelist")


def post_action(client, model: str, action: str, objects, *, apply: bool = False, **data):
    """Posts an action as the changelist form does; apply=True submits its intermediate page."""
    payload = {"action": action, "_selected_action": [o.pk for o in objects], **data}
    payload.update({"apply": "1"} if apply else {"index": "0"})
    return client.post(changelist(model), payload)


def messages_of(response) -> list[str]:
    """The messages as read (links to jobs are followed by message_links)."""
    return [strip_tags(str(m)) for m in get_messages(response.wsgi_request)]


def message_links(response) -> list[str]:
    """The addresses the messages link to (each queued job's page)."""
    return [href for m in get_messages(response.wsgi_request) for href in re.findall(r'href="([^"]+)"', str(m))]


def action_names(response) -> set[str]:
    """The actions offered in a changelist page's action menu."""
    form = response.context.get("action_form")
    if form is None:
        return set()
    return {value for value, _label in form.fields["action"].choices if value}
