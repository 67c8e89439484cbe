import json

from django.core.management.base import BaseCommand, CommandError

from opsportal.audit.chain import verify_chain
from opsportal.audit.checkpoints import CheckpointError, verify_checkpoints
from opsportal.audit.services import chain_verification_failed, checkpoint_failed


class Command(BaseCommand):
    help = "Verify the audit hash chain. Exits 0 when intact, 1 naming the first broken event."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
        parser.add_argument(
            "--checkpoints",
            metavar="DIR",
            help="Also prove the trail holds every signed checkpoint's head (docs/audit.md).",
        )
        parser.add_argument(
            "--workers", type=int, default=2, help="Parallel readers for large chains (PostgreSQL)."
        )
        parser.add_argument(
            "--parallel-from",
            type=int,
            default=200_000,
            help="Use the parallel readers from this many events on.",
        )

    def handle(self, *args, **options):
        if options["checkpoints"]:
            via = "manage.py audit_verify --checkpoints"
            try:
                held = verify_checkpoints(options["checkpoints"])
            except CheckpointError as exc:
                checkpoint_failed(reason=str(exc), via=via)
                raise CommandError(str(exc), returncode=1) from exc
            if not held.ok:
                checkpoint_failed(reason=f"broken at {held.describe()}", via=via)
                raise CommandError(f"Audit checkpoints broken at {held.describe()}.", returncode=1)
            self.stdout.write(self.style.SUCCESS(f"Audit checkpoints: {held.describe()}."))
        result = verify_chain(workers=options["workers"], parallel_from=options["parallel_from"])
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": result.ok,
                        "checked": result.checked,
                        "head_hash": result.head_hash,
                        "broken_seq": result.broken.seq if result.broken else None,
                        "reason": result.broken.reason if result.broken else None,
                    }
                )
            )
        if result.ok:
            if not options["json"]:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"Audit chain intact: {result.checked} events, head {result.head_hash}."
                    )
                )
            return
        chain_verification_failed(result=result, via="manage.py audit_verify")
        raise CommandError(
            f"Audit chain broken at event #{result.broken.seq}: {result.broken.reason}. "
            f"{result.checked} events before it verified.",
            returncode=1,
        )
