import getpass
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from opsportal.accounts.roles import ROLES
from opsportal.accounts.services import operator_create
from opsportal.audit.middleware import request_context


class Command(BaseCommand):
    help = "Create a portal login with one role. The password comes from a prompt or stdin."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from the first line of standard input.",
        )

    def handle(self, *args, username, role, email, password_stdin, **options):
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match.")
        if not password:
            raise CommandError("An empty password is not allowed.")
        try:
            with request_context(user_agent="manage.py create_operator"):
                user = operator_create(
                    actor=None, username=username, role=role, email=email, password=password
                )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(self.style.SUCCESS(f"Created {user.username} with role {role}."))
