"""Pages of this app held to the query budget and measured by the pages bench
(``opsportal/hotpages.py`` collects every app's)."""

from django.urls import reverse


def pages() -> list[tuple[str, str]]:
    # "waiting for me", and the count and panel every page's navigation and the dashboard fetch
    return [
        ("waiting for me", reverse("notifications:waiting")),
        ("waiting count", reverse("notifications:waiting_count")),
        ("waiting panel", reverse("notifications:waiting_panel")),
    ]
