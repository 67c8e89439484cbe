import json

from django.core.management.base import BaseCommand

from opsportal.accounts.roles import role_drift
from opsportal.accounts.services import roles_sync
from opsportal.audit.middleware import request_context


class Command(BaseCommand):
    help = (
        "Compare the role groups with the permissions defined in opsportal/accounts/roles.py; "
        "with --apply, give each group exactly its permissions (audited as auth.roles.synced). "
        "Without --apply, exits 1 when they differ."
    )

    def add_arguments(self, parser):
        parser.add_argument("--apply", action="store_true")

    def handle(self, *args, apply, **options):
        if not apply:
            drift = role_drift()
            self.stdout.write(json.dumps(drift, indent=2) if drift else "roles match the code")
            if drift:
                raise SystemExit(1)
            return
        with request_context(user_agent="manage.py sync_roles"):
            drift = roles_sync(actor=None)
        self.stdout.write(
            f"repaired: {', '.join(sorted(drift))}" if drift else "roles already matched the code"
        )
