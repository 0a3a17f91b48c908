"""Plumbing shared by the console's admin actions: permission guard, intermediate pages, history."""

from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

# An intermediate page lists every selected row; beyond this, narrow the selection first.
MAX_SELECTED = 100


class GuardedActionsMixin:
    """A POST naming an action this user may not run is refused with 403, not ignored.

    Django already drops such actions from get_actions(), so they never run;
    saying 403 makes a crafted request fail loudly and testably.
    """

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST" and self.forbidden_actions(request):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    def forbidden_actions(self, request) -> set[str]:
        posted = {name for name in request.POST.getlist("action") if name}
        # _get_base_actions: every action of this admin and the site, before permission filtering.
        known = {name for _func, name, _desc in self._get_base_actions()}
        return (posted & known) - set(self.get_actions(request))

    def has_perm(self, request, codename: str) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")


def applying(request) -> bool:
    """True when the intermediate page's form was submitted (not the first click on the action)."""
    return "apply" in request.POST


def too_many(modeladmin, request, queryset) -> bool:
    if queryset.count() <= MAX_SELECTED:
        return False
    modeladmin.message_user(
        request, _("Select at most %(n)d rows for this action (narrow the list with filters first).")
        % {"n": MAX_SELECTED}, messages.ERROR,
    )
    return True


def intermediate_page(modeladmin, request, *, queryset, form, action: str, title: str, intro: str = "",
                      template: str = "admin/backups_app/action_form.html", describe=str, **context):
    """The page between choosing an action and running it; posts back to the changelist."""
    opts = modeladmin.model._meta
    return TemplateResponse(request, template, {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "opts": opts,
        "form": form,
        "objects": [(obj.pk, describe(obj)) for obj in queryset],
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media + form.media,
        **context,
    })


def history(modeladmin, request, obj, message: str, *, added: bool = False) -> None:
    """One admin-history line (LogEntry) naming the user, on the object the action touched."""
    if added:
        modeladmin.log_addition(request, obj, message)
    else:
        modeladmin.log_change(request, obj, message)



def linked_message(template: str, **params):
    """A translated message whose parameters may be links (safe HTML); the rest is escaped."""
    from django.utils.html import conditional_escape, escape
    from django.utils.safestring import mark_safe

    safe = {k: conditional_escape(v) if not isinstance(v, int) else v for k, v in params.items()}
    return mark_safe(escape(template) % safe)  # noqa: S308 -- the template and every parameter are escaped


def object_page(modeladmin, request, object_id, action, *, back: str, post_only: bool = False):
    """An action's intermediate page for one object, at the object's own address (the buttons on its page).

    The page posts back here; once the action has run, the browser goes to `back` (or where it says).
    """
    from django.http import HttpResponseNotAllowed
    from django.shortcuts import get_object_or_404, redirect

    get_object_or_404(modeladmin.model, pk=object_id)
    if action not in modeladmin.get_actions(request):
        raise PermissionDenied
    if post_only and request.method != "POST":  # an action without a page of its own changes nothing on GET
        return HttpResponseNotAllowed(["POST"])
    queryset = modeladmin.get_queryset(request).filter(pk=object_id)
    response = getattr(modeladmin, action)(request, queryset)
    return response if response is not None else redirect(back)
