import secrets
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection

from opsportal.accounts.roles import OPERATOR, ensure_roles
from opsportal.accounts.services import operator_create
from opsportal.apphooks import app_hooks
from opsportal.audit.models import AuditEvent
from opsportal.audit.seeding import seed_audit_events

# An app may offer `<app>.seed.seed_<option>(count, *, actor, operators, stdout)` for its share.
APP_OPTIONS = ("members", "runs", "deployments")


class Command(BaseCommand):
    help = "Fill the database for benchmarks: audit events (valid chain), members, runbook runs."

    def add_arguments(self, parser):
        parser.add_argument("--audit-events", type=int, default=0)
        parser.add_argument("--members", type=int, default=0)
        parser.add_argument("--runs", type=int, default=0)
        parser.add_argument("--deployments", type=int, default=0)
        parser.add_argument("--operators", type=int, default=20)

    def handle(self, *args, **options):
        ensure_roles()
        actors = self._operators(options["operators"])
        if options["audit_events"]:
            started = time.perf_counter()
            head = seed_audit_events(
                options["audit_events"],
                actors=actors,
                # the environments events may name, through the event's own foreign key (the
                # ground floor imports no domain app)
                environments=list(
                    AuditEvent._meta.get_field("environment").related_model.objects.all()
                ),
                progress=lambda n: self.stdout.write(f"  audit events: {n}"),
            )
            seconds = time.perf_counter() - started
            self.stdout.write(
                f"audit events: {options['audit_events']} in {seconds:.1f} s "
                f"({options['audit_events'] / seconds:,.0f}/s); chain head #{head}"
            )
        seeders = {
            option: getattr(module, f"seed_{option}")
            for module in app_hooks("seed")
            for option in APP_OPTIONS
            if hasattr(module, f"seed_{option}")
        }
        for option in APP_OPTIONS:
            count = options[option]
            if not count:
                continue
            if option not in seeders:
                self.stderr.write(f"{option}: no app provides seed_{option}; skipped")
                continue
            started = time.perf_counter()
            seeders[option](count, actor=actors[0], operators=actors, stdout=self.stdout)
            self.stdout.write(f"{option}: {count} in {time.perf_counter() - started:.1f} s")
        if connection.vendor == "postgresql":
            # Fresh statistics, or the planner prices the new rows as if the tables were empty
            # until autovacuum gets round to them.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")

    def _operators(self, count: int) -> list:
        existing = list(get_user_model().objects.filter(username__startswith="scale-op-"))
        for i in range(len(existing), count):
            user = operator_create(
                actor=None,
                username=f"scale-op-{i:03d}",
                role=OPERATOR,
                password=secrets.token_urlsafe(24),
                validate=False,
            )
            existing.append(user)
        return existing
