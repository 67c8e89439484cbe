"""Time zones a user may choose, and the one a request is shown in.

The chosen zone is kept in the session (``SESSION_KEY``) once read, so a page costs no query
for it; ``account_settings_update`` refreshes the session of the user who changed it.
"""

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

SESSION_KEY = "_portal_time_zone"


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """Every IANA zone this machine knows, sorted, without the legacy aliases people never
    pick ("Etc/GMT+7" means UTC-7, which misleads more than it helps)."""
    named = sorted(
        name
        for name in available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    )
    return (*named, "UTC")


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    """The zone named ``name``, or None for "" or a name this machine does not know (a zone
    removed from the tz database since it was chosen falls back to the portal's)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def time_zone_of(user_id) -> str:
    """The zone ``user_id`` chose ("" for none): one query, made once per session."""
    from .models import AccountSettings  # zones.py is imported before the app registry is ready

    return (
        AccountSettings.objects.filter(user_id=user_id).values_list("time_zone", flat=True).first()
    ) or ""
