from django.conf import settings
from django.utils.functional import SimpleLazyObject

from opsportal.accounts.roles import role_of

NAV = (
    ("dashboard", "Dashboard", "dashboard"),
    ("environments", "Environments", "environments:project_list"),
    ("runbooks", "Runbooks", "runbooks:runbook_list"),
    ("calendar", "Calendar", "operations:calendar"),
    ("imports", "Imports", "imports:job_list"),
    ("deployments", "Deployments", "deployments:ledger"),
    ("compliance", "Compliance", "compliance:index"),
    ("audit", "Audit", "audit:event_list"),
)


def portal(request):
    user = getattr(request, "user", None)
    return {
        "nav_items": NAV,
        "nav_section": (request.resolver_match.namespace or request.resolver_match.url_name)
        if getattr(request, "resolver_match", None)
        else "",
        # Lazy: a query only for the pages that show the role (not the fragments htmx polls).
        "user_role": SimpleLazyObject(lambda: role_of(user))
        if user is not None and user.is_authenticated
        else None,
        "debug": settings.DEBUG,
    }
