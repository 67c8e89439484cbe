"""Pages of this app held to the query budget and measured by the pages bench
(``opsportal/hotpages.py`` collects every app's)."""

from django.urls import reverse


def pages() -> list[tuple[str, str]]:
    # the operations calendar: every app's calendar hook, the month grid and the list
    calendar = reverse("operations:calendar")
    return [
        ("calendar", calendar),
        ("calendar list", f"{calendar}?view=list"),
        ("recurring runs panel", reverse("operations:due_panel")),
    ]
