from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from opsportal.accounts.roles import ROLES, ensure_roles
from opsportal.accounts.services import operator_create
from opsportal.apphooks import app_hooks
from opsportal.audit.middleware import request_context

# Demo logins, one per role. Printed by `make run`; never use them outside a local demo.
DEMO_PASSWORD_SUFFIX = "-demo-pass-1"  # noqa: S105 (published demo logins)


def demo_password(role: str) -> str:
    return f"{role}{DEMO_PASSWORD_SUFFIX}"


class Command(BaseCommand):
    help = "Load demo users (one per role) and each app's demo data. Safe to run repeatedly."

    def handle(self, *args, **options):
        ensure_roles()
        User = get_user_model()
        with request_context(user_agent="manage.py load_demo"):
            users = {}
            for role in ROLES:
                user = User.objects.filter(username=role).first()
                if user is None:
                    user = operator_create(
                        actor=None,
                        username=role,
                        role=role,
                        email=f"{role}@example.com",
                        password=demo_password(role),
                        validate=False,
                    )
                users[role] = user
            for module in app_hooks("demo"):
                with transaction.atomic():
                    module.load(users=users, stdout=self.stdout)
        self.stdout.write("Demo logins (local demo only):")
        for role in ROLES:
            self.stdout.write(f"  {role:<9} password: {demo_password(role)}")
