"""Pages of this app held to the query budget and measured by the pages bench
(``opsportal/hotpages.py`` collects every app's)."""

from django.urls import reverse

from opsportal.audit.links import history_url

from .models import ChangeRequest, ConfigVar, Environment, Project


def pages() -> list[tuple[str, str]]:
    out = []
    var = ConfigVar.objects.order_by("-pk").first()
    if var:
        out.append(("variable page", var.get_absolute_url()))
        out.append(("variable history", history_url(var)))
    out.append(("projects", reverse("environments:project_list")))
    project = Project.objects.order_by("pk").first()
    if project:
        out.append(("environment matrix", project.get_absolute_url()))
    environment = Environment.objects.order_by("-tier", "pk").first()
    if environment:
        out.append(("environment detail", environment.get_absolute_url()))
    out.append(("change requests", reverse("environments:changerequest_list")))
    change_request = ChangeRequest.objects.order_by("-pk").first()
    if change_request:
        out.append(("change request", change_request.get_absolute_url()))
    return out
