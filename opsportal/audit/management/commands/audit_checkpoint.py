from django.core.management.base import BaseCommand, CommandError

from opsportal.audit.checkpoints import CheckpointError, write_checkpoint


class Command(BaseCommand):
    help = (
        "Append a signed checkpoint of the audit chain head to AUDIT_CHECKPOINT_DIR "
        "(docs/audit.md, Checkpoints)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", help="Write here instead of AUDIT_CHECKPOINT_DIR.")
        parser.add_argument(
            "--public-key",
            action="store_true",
            help="Print the signing key's id and public half (for AUDIT_VERIFY_KEYS) and exit.",
        )

    def handle(self, *args, **options):
        from opsportal.audit.checkpoints import current_key_id, public_key_b64

        try:
            if options["public_key"]:
                self.stdout.write(f"{current_key_id()}={public_key_b64()}")
                return
            checkpoint = write_checkpoint(options["dir"])
        except CheckpointError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Checkpoint of event #{checkpoint['seq']} ({checkpoint['head']}) signed with "
                f"{checkpoint['key_id']}."
            )
        )
