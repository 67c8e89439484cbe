"""Dashboard panel: the Sejoli order sync — shops processing, deliveries queued or failed."""

from . import services


def panels(request) -> list[dict]:
    if not request.user.has_perm("sejolisync.view_shophook"):
        return []
    status = services.sync_status()
    if not status["total"]:
        return []
    return [{"template": "sejolisync/_dashboard_panel.html", "sync": status, "order": 40}]
