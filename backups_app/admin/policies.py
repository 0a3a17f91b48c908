"""Retention policies: edited by people who are not developers, so every change is previewed and recorded."""

from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from backups_app.admin import display
from backups_app.admin.actions import GuardedActionsMixin, linked_message
from backups_app.admin.policy_forms import SETTING_FIELDS, RetentionPolicyForm
from backups_app.models import RetentionPolicy
from backups_app.services.jobs import process, queue
from backups_app.services.retention import orphans
from backups_app.services.retention.preview import preview_policy
from backups_app.services.targets import agreement


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(GuardedActionsMixin, admin.ModelAdmin):
    form = RetentionPolicyForm
    list_display = ["name", "scope_target", "scope_type", "rules_in_words", "enabled", "updated_at"]
    list_filter = ["enabled", "backup_type", "target"]
    search_fields = ["name"]
    actions = ["prune_now"]
    fieldsets = [
        (None, {"fields": ["name", "enabled"]}),
        (gettext_lazy("Which backups"), {"fields": ["target", "backup_type"]}),
        (gettext_lazy("What to keep (a backup is kept when any rule keeps it)"),
         {"fields": ["keep_days", "keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"]}),
        (gettext_lazy("Safety"), {"fields": ["min_keep"]}),
    ]  # preview_token and confirm_large_deletion are drawn by change_form.html with the preview

    @admin.display(description=gettext_lazy("database"))
    def scope_target(self, obj):
        return obj.target.name if obj.target_id else _("all databases")

    @admin.display(description=gettext_lazy("type"))
    def scope_type(self, obj):
        return obj.get_backup_type_display() if obj.backup_type else _("all types")

    @admin.display(description=gettext_lazy("keeps"))
    def rules_in_words(self, obj):
        return rules_in_words(obj)

    # --- history with old and new values ---------------------------------------------------------

    def construct_change_message(self, request, form, formsets, add=False):
        changed = [f for f in SETTING_FIELDS + ["name"] if f in form.changed_data]
        if add:
            return _("Added with %(values)s.") % {"values": "; ".join(
                f"{label(form, f)}: {shown(form.cleaned_data.get(f))}" for f in ["name", *SETTING_FIELDS])}
        if not changed:
            return _("No fields changed.")
        return _("Changed %(changes)s.") % {"changes": "; ".join(
            f"{label(form, f)}: {shown(old_value(form, f))} \u2192 {shown(form.cleaned_data.get(f))}"
            for f in changed)}

    # --- prune now -------------------------------------------------------------------------------

    def has_run_prune_permission(self, request):
        return request.user.has_perm("backups_app.run_prune")

    @admin.action(description=gettext_lazy("Prune now (shows what would be deleted first)"),
                  permissions=["run_prune"])
    def prune_now(self, request, queryset):
        policies = list(queryset.select_related("target"))
        if request.POST.get("confirm") == "yes":
            return self._queue_prunes(request, policies)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Prune now: what would be deleted"),
            "opts": self.model._meta,
            "previews": [(p, preview_policy(policy=p)) for p in policies],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "queryset": policies,
        }
        return TemplateResponse(request, "admin/backups_app/retentionpolicy/prune_preview.html", context)

    def _queue_prunes(self, request, policies):
        from backups_app.services.retention import prune as pruning

        queued = []
        with transaction.atomic():
            for policy in [p for p in policies if p.enabled and not self._refused_here(request, p)]:
                record = pruning.prune_create(policy=policy, started_by=request.user.get_username())
                queue.enqueue_prune_job(record)
                self.log_change(request, policy, _("Queued a prune of the backups this policy no longer keeps."))
                queued.append((policy.name, display.job_link(record)))
        if queued:
            self.message_user(request, linked_message(ngettext(
                "Queued %(count)d prune: %(names)s.", "Queued %(count)d prunes: %(names)s.", len(queued)),
                count=len(queued), names=format_html_join(", ", "{} ({})", queued)))
        else:
            self.message_user(request, _("Nothing was queued."), level="warning")
        skipped = [p.name for p in policies if not p.enabled]
        if skipped:
            self.message_user(request, _("Disabled policies prune nothing: %(names)s.") % {
                "names": ", ".join(skipped)}, level="warning")

    def _refused_here(self, request, policy) -> bool:
        """A policy over the default target is not queued while DB_* here name another server than it does."""
        default = agreement.default_target_or_none()
        problem = agreement.mismatch(default)
        if not problem or policy.target_id not in (None, default.pk):
            return False
        self.message_user(request, _("%(policy)s was not queued: %(problem)s") % {
            "policy": policy.name, "problem": problem}, level="error")
        return True

    # --- files nobody knows ----------------------------------------------------------------------

    def get_urls(self):
        preview = self.admin_site.admin_view(self.preview_view)
        return [path("orphans/", self.admin_site.admin_view(self.orphans_view),
                     name="backups_app_retentionpolicy_orphans"),
                path("preview/", preview, name="backups_app_retentionpolicy_preview_new"),
                path("<int:object_id>/preview/", preview, name="backups_app_retentionpolicy_preview"),
                *super().get_urls()]

    def preview_view(self, request, object_id=None):
        """The live preview of the form as it is being edited (htmx posts it as the numbers change); saves nothing.

        It also carries the confirmation of exactly this change, so Save needs no second press.
        """
        policy = self.get_object(request, str(object_id)) if object_id else None
        allowed = self.has_change_permission(request, policy) if policy else self.has_add_permission(request)
        if request.method != "POST" or not allowed:
            raise PermissionDenied
        form = self.get_form(request, policy)(request.POST, instance=policy)
        valid = form.is_valid()
        return TemplateResponse(request, "admin/backups_app/retentionpolicy/live_preview.html", {
            "form": form, "invalid": form.preview is None, "token": form.confirmation if not valid else ""})

    def orphans_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": _("Files under BACKUP_ROOT of host %(host)s that no backup record knows") % {
                       "host": process.host()},
                   "orphans": orphans.find_orphans()}
        return TemplateResponse(request, "admin/backups_app/retentionpolicy/orphans.html", context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "orphan_count": len(orphans.find_orphans()),
                         "this_host": process.host()}
        return super().changelist_view(request, extra_context=extra_context)


def rules_in_words(policy: RetentionPolicy) -> str:
    parts = []
    if policy.keep_days:
        parts.append(_("everything from the last %(n)s days") % {"n": policy.keep_days})
    if policy.keep_last:
        parts.append(_("the newest %(n)s") % {"n": policy.keep_last})
    for n, text in [(policy.keep_daily, _("one a day for %(n)s days")),
                    (policy.keep_weekly, _("one a week for %(n)s weeks")),
                    (policy.keep_monthly, _("one a month for %(n)s months")),
                    (policy.keep_yearly, _("one a year for %(n)s years"))]:
        if n:
            parts.append(text % {"n": n})
    parts.append(_("at least %(n)s") % {"n": policy.min_keep})
    return ", ".join(parts)


def label(form, name) -> str:
    return str(form.fields[name].label)


def old_value(form, name):
    value = form.initial.get(name)
    if name == "target" and value:
        from backups_app.models import DatabaseTarget

        return DatabaseTarget.objects.filter(pk=value).first() or value
    return value


def shown(value) -> str:
    if value is None or value == "":
        return _("(empty: all / off)")
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    return str(value)
