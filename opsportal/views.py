from django.views.generic import TemplateView

from opsportal.apphooks import app_hooks
from opsportal.audit.models import AuditEvent


class DashboardView(TemplateView):
    """Each domain app adds its panels through `<app>.dashboard.panels(request)`."""

    template_name = "dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["panels"] = [
            panel for module in app_hooks("dashboard") for panel in module.panels(self.request)
        ]
        if self.request.user.has_perm("audit.view_auditevent"):
            context["recent_events"] = AuditEvent.objects.select_related("actor")[:15]
        return context
