"""Thin bridges from Django's and django-axes' authentication signals to the audit service, and
the user's time zone noted in the new session."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from . import zones
from .services import auth_event_record, login_name


@receiver(user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender, request, user, **kwargs):
    auth_event_record(actor=user, action="auth.login.succeeded", username=user.get_username())


@receiver(user_logged_in, dispatch_uid="session_time_zone")
def _remember_time_zone(sender, request, user, **kwargs):
    # Read once at sign-in, so no page of the session pays a query for it (UserTimeZoneMiddleware).
    if request is not None and hasattr(request, "session"):
        request.session[zones.SESSION_KEY] = zones.time_zone_of(user.pk)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        auth_event_record(actor=user, action="auth.logout", username=user.get_username())


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    # Django has already replaced the password in `credentials`; the username is kept only
    # when it names a login (a password typed into the username box becomes a fingerprint).
    auth_event_record(
        actor=None, action="auth.login.failed", username=login_name(credentials.get("username"))
    )


@receiver(user_locked_out, dispatch_uid="audit_locked_out")
def _locked_out(sender, request, username, ip_address, **kwargs):
    # axes passes the name through AXES_USERNAME_CALLABLE (services.axes_username) already.
    auth_event_record(
        actor=None,
        action="auth.login.locked_out",
        username=str(username or ""),
        message=f"locked out after repeated failures from {ip_address}",
    )
