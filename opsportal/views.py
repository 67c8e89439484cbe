from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError
from django.http import JsonResponse
from django.utils.cache import patch_vary_headers
from django.utils.decorators import method_decorator
from django.views import View
from django.views.generic import TemplateView

from opsportal import search
from opsportal.accounts.roles import role_drift
from opsportal.apphooks import app_hooks
from opsportal.audit.models import AuditEvent
from opsportal.monitoring import database_ok

ROUTINE_AUTH_ACTIONS = ("auth.login.succeeded", "auth.logout")


class DashboardView(TemplateView):
    """Each domain app adds its panels through `<app>.dashboard.panels(request)`."""

    template_name = "dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        panels = [
            panel for module in app_hooks("dashboard") for panel in module.panels(self.request)
        ]
        # A panel may ask to come first (the user's own queue): "order", lower first, default 50.
        context["panels"] = sorted(panels, key=lambda panel: panel.get("order", 50))
        if self.request.user.has_perm("audit.view_auditevent"):
            # Routine sign-ins and sign-outs would fill the list; failures and lockouts stay.
            events = AuditEvent.objects.select_related("actor")
            with_logins = self.request.GET.get("logins") == "1"
            if not with_logins:
                events = events.exclude(action__in=ROUTINE_AUTH_ACTIONS)
            context["recent_events"] = events[:15]
            context["with_logins"] = with_logins
        return context


@method_decorator(login_not_required, name="dispatch")
class HealthView(View):
    """For load balancers: 200 while this process can reach the database, 503 otherwise.
    Says nothing else, since it answers without a login."""

    def get(self, request):
        if not database_ok():
            return JsonResponse({"status": "database unavailable"}, status=503)
        # A role whose permissions differ from roles.py does not take the process out of the
        # load balancer; anonymous callers learn only that, staff see which role and how.
        try:
            drift = role_drift()
        except DatabaseError:  # reachable, but not migrated yet
            return JsonResponse({"status": "ok", "roles": "unknown"})
        body = {"status": "ok", "roles": "drift" if drift else "ok"}
        if drift and request.user.is_authenticated and request.user.is_staff:
            body["roles_drift"] = drift
        return JsonResponse(body)


class SearchView(TemplateView):
    """``/search/?q=``: grouped results from every app's ``search.py`` the user may see.

    htmx asks for the results alone (the navigation's drop-down); a plain request gets the page.
    """

    template_name = "search/search.html"

    def get_template_names(self):
        if self.request.headers.get("HX-Request"):
            return ["search/_results.html"]
        return [self.template_name]

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        patch_vary_headers(response, ["HX-Request"])  # the page and its fragment share a URL
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        q = search.clean(self.request.GET.get("q"))
        context.update(
            q=q,
            groups=search.search(self.request.user, q),
            min_length=search.MIN_LENGTH,
            max_length=search.MAX_LENGTH,
            nav_section="search",
        )
        return context
