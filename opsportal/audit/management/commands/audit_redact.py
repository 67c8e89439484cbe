from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from opsportal.audit.middleware import request_context
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import audit_event_redact


class Command(BaseCommand):
    help = (
        "Redact one field of an audit event (message, target_repr, actor_label, ip, user_agent "
        "or changes.<key>). The chain still verifies; the redaction is itself audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("seq", type=int, help="The event's number (#seq on its page).")
        parser.add_argument(
            "field", help="message, target_repr, actor_label, ip, user_agent, or changes.<key>"
        )
        parser.add_argument(
            "--reason", required=True, help="Why (recorded; keep it free of the removed text)."
        )
        parser.add_argument(
            "--actor",
            help="Username of the admin redacting (needs audit.redact_auditevent); "
            "without it the redaction is recorded as the system's (shell access).",
        )

    def handle(self, *args, **opts):
        actor = None
        if opts["actor"]:
            actor = get_user_model().objects.filter(username=opts["actor"], is_active=True).first()
            if actor is None:
                raise CommandError(f"No active user named {opts['actor']!r} (--actor).")
        event = AuditEvent.objects.filter(seq=opts["seq"]).first()
        if event is None:
            raise CommandError(f"No audit event #{opts['seq']}.")
        with request_context(user_agent="manage.py audit_redact"):
            try:
                event = audit_event_redact(
                    actor=actor, event=event, field=opts["field"], reason=opts["reason"]
                )
            except (ValidationError, PermissionDenied) as exc:
                messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
                raise CommandError(" ".join(messages)) from exc
        entry = event.redaction_log[-1]
        self.stdout.write(
            self.style.SUCCESS(
                f"{entry['path']} of event #{event.seq} redacted "
                f"(recorded as event #{entry['event']})."
            )
        )
