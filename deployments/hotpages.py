"""Pages of this app held to the query budget and measured by the pages bench
(``opsportal/hotpages.py`` collects every app's)."""

from django.urls import reverse

from environments.models import Environment


def pages() -> list[tuple[str, str]]:
    out = [
        ("deployments", reverse("deployments:ledger")),
        ("DORA figures", reverse("deployments:dora")),
    ]
    environment = Environment.objects.order_by("-tier", "pk").first()
    if environment:
        out.append(("environment timeline", reverse("deployments:timeline", args=[environment.pk])))
    return out
