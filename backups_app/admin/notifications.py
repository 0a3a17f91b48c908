"""Notification channels and the notifications sent. A channel's URL is never shown: only its scheme and host."""

from django import forms
from django.contrib import admin, messages
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backups_app.admin.actions import GuardedActionsMixin
from backups_app.models import Notification, NotificationChannel
from backups_app.models.notifications import EventKind, default_events
from backups_app.services import notify
from backups_app.services.notify import destinations


class NotificationChannelForm(forms.ModelForm):
    # A form field of its own (the model's is JSON) starts where the model does: every event, so a channel
    # saved as it comes hears everything rather than nothing.
    events = forms.MultipleChoiceField(label=capfirst(NotificationChannel._meta.get_field("events").verbose_name),
                                       choices=EventKind.choices, required=False, initial=default_events,
                                       widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = NotificationChannel
        fields = ["name", "kind", "destination", "events", "send_successes", "slack_format", "enabled"]


@admin.register(NotificationChannel)
class NotificationChannelAdmin(GuardedActionsMixin, admin.ModelAdmin):
    form = NotificationChannelForm
    list_display = ["name", "kind", "sends_to", "enabled", "send_successes", "last_sent_at", "delivery"]
    list_filter = ["enabled", "kind"]
    actions = ["send_test_notification"]
    readonly_fields = ["sends_to", "last_sent_at", "last_error", "last_error_at"]
    fieldsets = [
        (None, {"fields": ["name", "enabled", "kind", "destination", "sends_to"]}),
        (gettext_lazy("What to tell"), {"fields": ["events", "send_successes", "slack_format"]}),
        (gettext_lazy("Delivery"), {"fields": ["last_sent_at", "last_error", "last_error_at"]}),
    ]

    @admin.display(description=gettext_lazy("sends to"))
    def sends_to(self, obj):
        return destinations.masked(obj) if obj.pk or obj.destination else "-"

    @admin.display(description=gettext_lazy("delivery"))
    def delivery(self, obj):
        if obj.last_error:
            return _("failed %(when)s: %(error)s") % {
                "when": when(obj.last_error_at),
                "error": obj.last_error}
        return _("ok") if obj.last_sent_at else _("nothing sent yet")

    @admin.action(description=gettext_lazy("Send a test notification"), permissions=["change"])
    def send_test_notification(self, request, queryset):
        for channel in queryset:
            ok, problem = notify.send_test(channel)
            if ok:
                self.message_user(request, _("Test notification sent through %(name)s.") % {"name": channel.name})
            else:
                self.message_user(request, _("%(name)s could not deliver the test notification: %(error)s") % {
                    "name": channel.name, "error": problem}, messages.ERROR)


@admin.register(Notification)
class NotificationAdmin(GuardedActionsMixin, admin.ModelAdmin):
    list_display = ["created_at", "kind", "target", "title", "delivered", "failed"]
    list_filter = ["kind", "target"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def when(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT") if moment else ""
