from django.conf import settings
from django.db import models
from django.urls import reverse


class AccountSettings(models.Model):
    """A login's own display settings. Today: the time zone its pages show times in.

    One row per user that changed something; a user without one sees the portal's
    ``TIME_ZONE``. Written only through ``services.account_settings_update``.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_settings"
    )
    # An IANA name ("Asia/Jakarta"); "" means the portal's TIME_ZONE.
    time_zone = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "account settings"
        verbose_name_plural = "account settings"

    def __str__(self) -> str:
        return f"settings of {self.user.get_username()}"

    def get_absolute_url(self) -> str:
        return reverse("account_settings")
