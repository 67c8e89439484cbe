import json

from django.core.management.base import BaseCommand

from opsportal.monitoring import database_ok, portal_status


class Command(BaseCommand):
    help = (
        "The portal's own health: database, task queues, failed tasks, imports in flight, roles "
        "against roles.py, audit head and its signed checkpoints. Exits 1 when something needs "
        "attention (for cron and monitoring agents)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--max-wait", type=int, default=300, help="seconds a queued task may wait"
        )

    def handle(self, *args, **options):
        if not database_ok():
            self.stderr.write("database unavailable")
            raise SystemExit(1)
        status = portal_status(max_wait_seconds=options["max_wait"])
        if options["json"]:
            self.stdout.write(json.dumps(status, indent=2))
        else:
            self.stdout.write(f"database: {status['database']}")
            if not status["queues"]:
                self.stdout.write("queues: nothing queued")
            for name, q in sorted(status["queues"].items()):
                self.stdout.write(
                    f"queue {name}: {q['waiting']} waiting (oldest {q['oldest_wait_seconds']} s), "
                    f"{q['in_progress']} in progress"
                )
            self.stdout.write(f"failed tasks (24 h): {status['failed_tasks_24h']}")
            for job in status.get("imports_in_flight", ()):
                self.stdout.write(
                    f"import #{job['job']} {job['kind']}: {job['percent']} % "
                    f"(batch {job['checkpoint']})"
                )
            self.stdout.write(f"roles: {status['roles']['status']}")
            head = status["audit_head"]
            self.stdout.write(f"audit head: #{head['seq']} at {head['at']}")
            cp = status["audit_checkpoints"]
            self.stdout.write(
                f"audit checkpoints: {cp['status']}"
                + (f" (event #{cp['seq']} at {cp['at']})" if cp.get("at") else "")
            )
            for warning in status["warnings"]:
                self.stderr.write(f"WARNING: {warning}")
            for problem in status["problems"]:
                self.stderr.write(f"PROBLEM: {problem}")
        if status["problems"]:
            raise SystemExit(1)
