from django.db import models


class Frequency(models.TextChoices):
    """How often a recurring run comes round; each preset is a cron expression (``cron.py``)."""

    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    CRON = "cron", "Cron expression"


class Weekday(models.IntegerChoices):
    """Python's numbering (Monday is 0); cron's (Sunday is 0) is derived in ``cron.py``."""

    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class PeriodStatus(models.TextChoices):
    """Where one period of a recurring run (or any calendar entry) stands."""

    PLANNED = "planned", "Planned"
    DUE = "due", "Due"
    OVERDUE = "overdue", "Overdue"
    DONE = "done", "Done"
    ABORTED = "aborted", "Aborted"
    FAILED = "failed", "Could not start"
