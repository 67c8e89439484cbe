"""``manage.py sejoli_hook create --name SHOP [--signed] [--json]`` / ``list`` / ``disable``.

``create`` prints the endpoint's path with its token, and the signing secret when asked for one:
both are shown this once and stored only hashed (the token) or encrypted (the secret).
"""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from sejolisync import services
from sejolisync.models import ShopHook


class Command(BaseCommand):
    help = "Create, list or disable the endpoints Sejoli shops post their orders to."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="a new shop endpoint")
        create.add_argument("--name", required=True)
        create.add_argument(
            "--signed", action="store_true", help="also an HMAC-SHA256 signing secret"
        )
        create.add_argument("--json", action="store_true")
        listing = sub.add_parser("list", help="the shops' endpoints (tokens masked)")
        listing.add_argument("--json", action="store_true")
        disable = sub.add_parser("disable", help="refuse a shop's posts from now on")
        disable.add_argument("hook", help="id or name")
        disable.add_argument("--reason", default="")
        disable.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        return getattr(self, f"do_{options['action']}")(options) or ""

    def out(self, options, data: dict, text: str) -> None:
        self.stdout.write(json.dumps(data) if options["json"] else text)

    def do_create(self, options):
        try:
            new = services.hook_create(actor=None, name=options["name"], signed=options["signed"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        data = {"id": new.hook.pk, "url": new.url}
        text = f"Hook #{new.hook.pk} {new.hook.name}: POST to {new.url}"
        if new.signing_secret:
            data["signing_secret"] = new.signing_secret
            text += (
                f"\nSigning secret (hex HMAC-SHA256 of the body in X-Sejoli-Signature): "
                f"{new.signing_secret}"
            )
        self.out(options, data, text + "\nShown once: the portal keeps only a hash.")

    def do_list(self, options):
        rows = [
            {
                "id": h.pk,
                "name": h.name,
                "url": h.masked_url,
                "enabled": h.enabled,
                "processing": h.processing,
                "signed": h.signed,
            }
            for h in ShopHook.objects.all()
        ]
        text = "\n".join(
            f"#{r['id']} {r['name']} {r['url']} enabled={r['enabled']} "
            f"processing={r['processing']} signed={r['signed']}"
            for r in rows
        )
        self.out(options, {"hooks": rows}, text or "No hooks.")

    def do_disable(self, options):
        key = options["hook"]
        hook = ShopHook.objects.filter(pk=int(key)).first() if key.isdigit() else None
        hook = hook or ShopHook.objects.filter(name=key).first()
        if hook is None:
            raise CommandError(f"No hook {key!r}.")
        hook = services.hook_switch(actor=None, hook=hook, enabled=False, reason=options["reason"])
        self.out(options, {"id": hook.pk, "enabled": hook.enabled}, f"Hook #{hook.pk} disabled.")
