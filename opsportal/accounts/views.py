from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.views import PasswordChangeView
from django.http import HttpResponseRedirect

from .services import operator_password_change


class PortalPasswordChangeView(PasswordChangeView):
    """Django's password change, written through the accounts service so it is audited."""

    def form_valid(self, form):
        operator_password_change(
            actor=self.request.user, new_password=form.cleaned_data["new_password1"]
        )
        update_session_auth_hash(self.request, self.request.user)
        return HttpResponseRedirect(self.get_success_url())
