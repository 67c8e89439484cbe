"""``manage.py api_token create|list|revoke``: tokens from the shell (docs/api.md).

Run by someone with shell access to the server: the audit events name no portal user as the
actor (``system``), and the token string is printed once, never logged.
"""

import json

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from opsportal.accounts.roles import ADMIN, ROLES
from opsportal.api import services
from opsportal.api.models import ApiToken
from opsportal.api.scopes import SCOPES
from opsportal.audit.middleware import request_context


def _error_text(exc) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return "; ".join(getattr(exc, "messages", [str(exc)]))


class Command(BaseCommand):
    help = "Create, list and revoke API tokens (the token is printed once)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token and print it once")
        create.add_argument("--user", required=True, help="the owner's username")
        create.add_argument(
            "--scope",
            action="append",
            required=True,
            choices=list(SCOPES),
            help="repeat for several scopes",
        )
        create.add_argument("--name", default="", help="what uses it (default: 'cli')")
        create.add_argument(
            "--expires-days", type=int, default=services.DEFAULT_EXPIRES_DAYS, dest="expires_days"
        )
        create.add_argument(
            "--service-role",
            choices=[r for r in ROLES if r != ADMIN],
            help="create --user as a service account with this role when it does not exist",
        )
        create.add_argument("--json", action="store_true", help='print {"id": …, "token": …}')
        listing = sub.add_parser("list", help="list tokens (never their secrets)")
        listing.add_argument("--user", help="only this owner's tokens")
        listing.add_argument("--all", action="store_true", help="include revoked and expired")
        listing.add_argument("--json", action="store_true")
        revoke = sub.add_parser("revoke", help="revoke a token by id")
        revoke.add_argument("id", type=int)
        revoke.add_argument("--reason", default="")

    def handle(self, *args, **opts):
        with request_context(user_agent=f"manage.py api_token {opts['action']}"):
            try:
                getattr(self, f"_{opts['action']}")(opts)
            except (ValidationError, PermissionDenied) as exc:
                raise CommandError(_error_text(exc)) from None

    def _create(self, opts):
        User = get_user_model()
        user = User.objects.filter(username=opts["user"]).first()
        if user is None:
            if not opts["service_role"]:
                raise CommandError(
                    f"No user named {opts['user']!r}. Add --service-role ROLE to create it as a "
                    "service account."
                )
            user = services.service_account_create(
                actor=None, username=opts["user"], role=opts["service_role"]
            ).user
        token, raw = services.token_create(
            actor=None,
            user=user,
            name=opts["name"] or "cli",
            scopes=opts["scope"],
            expires_days=opts["expires_days"],
        )
        if opts["json"]:
            self.stdout.write(json.dumps({"id": token.pk, "token": raw}))
            return
        self.stdout.write(raw)
        self.stderr.write(
            f"{token.label} for {user.get_username()} ({token.kind}), scopes "
            f"{', '.join(token.scopes)}, expires {token.expires_at:%Y-%m-%d}. "
            "Shown once: store it now."
        )

    def _list(self, opts):
        qs = ApiToken.objects.select_related("user").order_by("id")
        if opts["user"]:
            qs = qs.filter(user__username=opts["user"])
        now = timezone.now()
        if not opts["all"]:
            qs = qs.active(now)
        rows = [
            {
                "id": t.pk,
                "owner": t.user.get_username(),
                "kind": t.kind,
                "name": t.name,
                "scopes": t.scopes,
                "status": t.status(now),
                "created_at": t.created_at.isoformat(),
                "expires_at": t.expires_at.isoformat(),
                "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
            }
            for t in qs
        ]
        if opts["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for r in rows:
            used = r["last_used_at"][:16] if r["last_used_at"] else "never"
            self.stdout.write(
                f"{r['id']:>5}  {r['owner']:<16} {r['kind']:<8} {r['status']:<8} "
                f"expires {r['expires_at'][:10]}  last used {used:<16}  "
                f"{','.join(r['scopes']):<30} {r['name']}"
            )
        if not rows:
            self.stdout.write("no tokens")

    def _revoke(self, opts):
        token = ApiToken.objects.select_related("user").filter(pk=opts["id"]).first()
        if token is None:
            raise CommandError(f"No token with id {opts['id']}.")
        services.token_revoke(actor=None, token=token, reason=opts["reason"])
        self.stdout.write(f"{token.label} revoked")
