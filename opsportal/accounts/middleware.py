import time

from django.conf import settings

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
