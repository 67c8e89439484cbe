from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.views import PasswordChangeView
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.utils import timezone

from opsportal.generic import ServiceFormView

from .forms import AccountSettingsForm
from .models import AccountSettings
from .services import account_settings_update, operator_password_change


class PortalPasswordChangeView(PasswordChangeView):
    """Django's password change, written through the accounts service so it is audited."""

    def form_valid(self, form):
        operator_password_change(
            actor=self.request.user, new_password=form.cleaned_data["new_password1"]
        )
        update_session_auth_hash(self.request, self.request.user)
        return HttpResponseRedirect(self.get_success_url())


class AccountSettingsView(ServiceFormView):
    """``/accounts/settings/``: the signed-in user's own display settings (their time zone)."""

    permission_required = ()  # everyone signed in changes their own
    form_class = AccountSettingsForm
    template_name = "accounts/settings.html"
    title = "My settings"

    def get_initial(self):
        current = AccountSettings.objects.filter(user=self.request.user).first()
        return {"time_zone": current.time_zone if current else ""}

    def call_service(self, form):
        return account_settings_update(
            actor=self.request.user,
            user=self.request.user,
            time_zone=form.cleaned_data["time_zone"],
            session=self.request.session,
        )

    def after_service(self, result):
        shown = result.time_zone or f"the portal's default ({settings.TIME_ZONE})"
        messages.success(self.request, f"Saved: times are shown in {shown}.")
        return redirect("account_settings")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["now"] = timezone.now()
        return ctx
