from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from opsportal.accounts.services import login_unlock
from opsportal.audit.middleware import request_context


class Command(BaseCommand):
    help = (
        "Clear the login lockout of USERNAME (django-axes, every address it was locked from). "
        "Audited as auth.lockout.cleared."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--reason", default="", help="kept in the audit log")

    def handle(self, *args, username, reason, **options):
        try:
            with request_context(user_agent="manage.py unlock_login"):
                count = login_unlock(actor=None, username=username, reason=reason)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if count:
            self.stdout.write(self.style.SUCCESS(f"Unlocked {username} ({count} record(s))."))
        else:
            self.stdout.write(f"{username} was not locked out: nothing to clear.")
