import time

from django.conf import settings
from django.utils import timezone

from .zones import SESSION_KEY, time_zone_of, zone

REFRESHED_KEY = "_idle_refreshed"


class SessionIdleRefreshMiddleware:
    """Push an authenticated session's expiry forward on activity, at most once a minute.

    `SESSION_SAVE_EVERY_REQUEST` would write (and commit) the session row on every request,
    which under load costs more than rendering most pages. Refreshing once per
    `SESSION_REFRESH_SECONDS` keeps the idle timeout to within that margin.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or session.is_empty() or not session.get("_auth_user_id"):
            return response
        now = int(time.time())
        if now - session.get(REFRESHED_KEY, 0) >= settings.SESSION_REFRESH_SECONDS:
            session[REFRESHED_KEY] = now  # marks the session modified: saved with a new expiry
        return response


class UserTimeZoneMiddleware:
    """Show every page in the signed-in user's own time zone (their account settings).

    The zone is read at sign-in and kept in the session, so pages cost no query for it; a user
    without a choice, and everyone signed out, sees the portal's ``TIME_ZONE``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        chosen = None
        session = getattr(request, "session", None)
        user_id = session.get("_auth_user_id") if session is not None else None
        if user_id:
            name = session.get(SESSION_KEY)
            if name is None:  # a session from before sign-in noted it (receivers.py)
                name = time_zone_of(user_id)
                session[SESSION_KEY] = name
            chosen = zone(name)
        if chosen is None:
            timezone.deactivate()
        else:
            timezone.activate(chosen)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
