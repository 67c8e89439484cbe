import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the web server and the django-q2 workers (default and imports clusters) together; "
        "Ctrl-C stops all of them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args, host, port, **options):
        manage = [sys.executable, "manage.py"]
        procs = [
            subprocess.Popen([*manage, "qcluster"]),
            subprocess.Popen(
                [*manage, "qcluster"], env={**os.environ, "Q_CLUSTER_NAME": "imports"}
            ),
            subprocess.Popen([*manage, "runserver", f"{host}:{port}", "--noreload"]),
        ]
        self.stdout.write(self.style.SUCCESS(f"opsportal is running at http://{host}:{port}/"))
        self.stdout.write("Workers: default and imports clusters. Press Ctrl-C to stop.")
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        failed = [p for p in procs if p.returncode not in (0, -signal.SIGINT, None)]
        if failed:
            sys.exit(1)
