"""What an app hands the operations calendar (``/calendar/``): dated entries.

One optional module per app, found by name (``opsportal.apphooks``, hook ``calendar``):

``<app>/calendar.py``
    ``entries(user, start, end) -> list[CalendarEntry]``: what falls in ``[start, end)`` (aware
    datetimes; the calendar asks for whole local days, a month grid at a time) that ``user`` may
    see — the hook checks its own permissions and returns ``[]`` otherwise. A few bounded queries:
    the page asks every hook on every visit. Past entries say how they ended (done, overdue …),
    future ones are ``planned``.

The calendar never imports an app's models: an app adds its dates by shipping the module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .choices import PeriodStatus

#: badge colours of each status (Bootstrap ``text-bg-*``)
STATUS_STYLE = {
    PeriodStatus.PLANNED: "light",
    PeriodStatus.DUE: "primary",
    PeriodStatus.OVERDUE: "danger",
    PeriodStatus.DONE: "success",
    PeriodStatus.ABORTED: "secondary",
    PeriodStatus.FAILED: "warning",
}


@dataclass(frozen=True)
class CalendarEntry:
    when: datetime  # aware; the entry sits on its local date (the portal's TIME_ZONE)
    title: str  # "Daily production checks on makalah.ai / prod"
    url: str  # where it is seen or done (a run, a campaign, a review)
    kind: str  # "Recurring run", "Rotation campaign", "Access review"
    status: str = PeriodStatus.PLANNED  # a choices.PeriodStatus value
    detail: str = ""  # one short line: "due by 13:00", "3 of 12 rotated"
    all_day: bool = False  # a due date rather than a time (shown without the time)

    @property
    def style(self) -> str:
        return STATUS_STYLE.get(self.status, "light")

    @property
    def status_label(self) -> str:
        try:
            return PeriodStatus(self.status).label
        except ValueError:
            return str(self.status).replace("_", " ").capitalize()
