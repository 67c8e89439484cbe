import importlib
import logging

from django.views.generic import TemplateView

from opsportal.audit.models import AuditEvent

logger = logging.getLogger(__name__)

# Each domain app may offer `<app>.dashboard.panels(request) -> list[dict(template=..., ...)]`.
PANEL_APPS = ("environments", "runbooks", "imports")


def _app_panels(request) -> list[dict]:
    panels = []
    for app in PANEL_APPS:
        try:
            module = importlib.import_module(f"{app}.dashboard")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.dashboard":
                raise
            continue
        panels.extend(module.panels(request))
    return panels


class DashboardView(TemplateView):
    template_name = "dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["panels"] = _app_panels(self.request)
        if self.request.user.has_perm("audit.view_auditevent"):
            context["recent_events"] = AuditEvent.objects.all()[:15]
        return context
