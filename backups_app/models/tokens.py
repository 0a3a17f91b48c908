"""API tokens: each acts for its user, with the user's permissions and no more (services/web/tokens.py)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiToken(models.Model):
    """A token a pipeline sends as `Authorization: Bearer ...`. Only its hash is kept: it is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens",
                             verbose_name=_("user"), help_text=_("The token may do what this user may, no more."))
    name = models.CharField(_("name"), max_length=100,
                            help_text=_("What uses it, e.g. deploy-pipeline; the admin history names it."))
    key_id = models.CharField(_("token starts with"), max_length=20, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True,
                                      help_text=_("Empty: valid until revoked."))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["user_id", "name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="one_token_name_per_user")]

    def __str__(self):
        return self.name
