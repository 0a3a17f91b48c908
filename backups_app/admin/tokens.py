"""API tokens in the admin: each person makes and revokes their own; a superuser sees and revokes everyone's.

A new token is shown once, on the page that follows its creation, and
never again: only its hash is kept (services/web/tokens.py). Tokens are
revoked, not deleted, so the history keeps what each did. No role grants
anything here: a token may do what its user may.
"""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from backups_app.admin.actions import GuardedActionsMixin, history
from backups_app.models import ApiToken
from backups_app.services.web import tokens


class TokenForm(forms.ModelForm):
    """A new token's name is free for its user, and its expiry, if any, is still to come."""

    requester = None

    def clean(self):
        data = super().clean()
        user = data.get("user") if self.requester.is_superuser and data.get("user") else self.requester
        name = " ".join((data.get("name") or "").split())
        if name and ApiToken.objects.filter(user=user, name=name).exists():
            self.add_error("name", _("%(user)s already has a token of this name.") % {"user": user.get_username()})
        if data.get("expires_at") and data["expires_at"] <= timezone.now():
            self.add_error("expires_at", _("The expiry must be in the future."))
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(GuardedActionsMixin, admin.ModelAdmin):
    list_display = ["name", "user", "starts_with", "created_at", "expires_at", "last_used_at", "state"]
    list_select_related = ["user"]
    actions = ["revoke_tokens"]
    search_fields = ["name", "key_id"]

    def get_queryset(self, request):
        found = super().get_queryset(request)
        return found if request.user.is_superuser else found.filter(user=request.user)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "user", "expires_at"] if request.user.is_superuser else ["name", "expires_at"]
        return ["name", "user", "starts_with", "created_at", "expires_at", "last_used_at", "revoked_at", "state"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    # Anyone who may use the console may have tokens; a token can do no more than its user.
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request) and (obj is None or self._owns(request, obj))

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return False  # a token is made once; afterwards it is only revoked

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: the history keeps what it did

    def has_revoke_permission(self, request):
        return self.has_module_permission(request)

    def _owns(self, request, obj) -> bool:
        return request.user.is_superuser or obj.user_id == request.user.pk

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type("ApiTokenForm", (TokenForm, form), {"requester": request.user})

    def save_model(self, request, obj, form, change):
        user = obj.user if request.user.is_superuser and obj.user_id else request.user
        made, raw = tokens.create(user=user, name=obj.name, expires_at=obj.expires_at)
        obj.pk, obj.user, obj.key_id, obj.created_at = made.pk, made.user, made.key_id, made.created_at
        request._new_api_token = raw

    def response_add(self, request, obj, post_url_continue=None):
        return TemplateResponse(request, "admin/backups_app/apitoken/created.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "token": obj,
            "raw": request._new_api_token, "title": _("API token made")})

    @admin.display(description=gettext_lazy("token"))
    def starts_with(self, obj):
        return tokens.shown(obj)

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj):
        return {"active": _("active"), "revoked": _("revoked"), "expired": _("expired")}[tokens.state(obj)]

    @admin.action(description=gettext_lazy("Revoke the tokens"), permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        done = [t for t in queryset.select_related("user") if self._owns(request, t) and tokens.revoke(t)]
        for token in done:
            history(self, request, token, _("Revoked."))
        done = [t.name for t in done]
        if done:
            self.message_user(request, ngettext("Revoked %(n)d token: %(list)s.", "Revoked %(n)d tokens: %(list)s.",
                                                len(done)) % {"n": len(done), "list": ", ".join(done)},
                              messages.SUCCESS)
        else:
            self.message_user(request, _("None of the selected tokens was active."), messages.WARNING)
