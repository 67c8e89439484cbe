from django.core.management.base import BaseCommand

from notifications.services import channels_rekey


class Command(BaseCommand):
    help = (
        "Re-encrypt every chat channel's webhook URL under the first NOTIFY_ENCRYPTION_KEY "
        "(after putting a new key first: NOTIFY_ENCRYPTION_KEY=new,old). Audited."
    )

    def handle(self, *args, **options):
        count = channels_rekey(actor=None)
        self.stdout.write(
            self.style.SUCCESS(f"{count} channel(s) re-encrypted under the first key.")
        )
