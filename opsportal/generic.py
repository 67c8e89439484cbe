"""Generic views the apps share. Ground floor: nothing here imports a domain app.

``ServiceFormView`` is the house's write page: the form parses the input, one service call
validates and writes, and the service's ``ValidationError`` comes back onto the form, next to the
field it names (the service is the one place the rules live, so the page never re-states them).
"""

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import FormView


def add_service_errors(form, exc: ValidationError, field_map: dict[str, str] | None = None):
    """Put a service's ``ValidationError`` onto ``form``.

    A dict's keys are the service's argument names; ``field_map`` renames those that differ from
    the form's field names. An error for a field the form does not show (or shows hidden) becomes
    a form-level error that names the field, so no message is lost and none sits next to the wrong
    field.
    """
    field_map = field_map or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for name, errors in exc.error_dict.items():
        target = field_map.get(name, name)
        if target in form.fields and not form[target].is_hidden:
            form.add_error(target, errors)  # keeps each error's code and params
            continue
        prefix = "" if name == NON_FIELD_ERRORS else f"{name.replace('_', ' ').capitalize()}: "
        for error in errors:
            for message in error.messages:
                form.add_error(None, f"{prefix}{message}")


class ServiceFormView(PermissionRequiredMixin, FormView):
    """A form whose valid data goes to one service call; its errors come back onto the form.

    Subclasses set ``permission_required``, ``form_class``, ``template_name`` and implement
    ``call_service(form)``; ``after_service(result)`` decides where to go next (by default:
    "Saved." and the result's page). A ``PermissionDenied`` from the service is a 403.
    """

    title = ""
    # service argument name -> form field name, where they differ (see add_service_errors)
    error_fields: dict[str, str] = {}

    def call_service(self, form):
        raise NotImplementedError

    def form_valid(self, form):
        try:
            result = self.call_service(form)
        except ValidationError as exc:
            add_service_errors(form, exc, self.error_fields)
            return self.form_invalid(form)
        return self.after_service(result)

    def after_service(self, result):
        messages.success(self.request, "Saved.")
        return redirect(result)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["title"] = self.title
        referer = self.request.META.get("HTTP_REFERER", "")
        # The Referer header is the client's to set: only a page of this site is offered as
        # "Cancel".
        safe = url_has_allowed_host_and_scheme(
            referer, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        )
        ctx["cancel_url"] = referer if safe else ""
        return ctx
