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
        # Children get their own session: a signal to this process group (Ctrl-C, `timeout`,
        # a supervisor's SIGTERM) reaches only this command, which then stops each child with
        # SIGINT, the signal django-q2's cluster handles gracefully.
        procs = [
            subprocess.Popen([*manage, "qcluster"], start_new_session=True),
            subprocess.Popen(
                [*manage, "qcluster"],
                env={**os.environ, "Q_CLUSTER_NAME": "imports"},
                start_new_session=True,
            ),
            subprocess.Popen(
                [*manage, "runserver", f"{host}:{port}", "--noreload"], start_new_session=True
            ),
        ]
        self.stdout.write(self.style.SUCCESS(f"opsportal is running at http://{host}:{port}/"))
        self.stdout.write("Workers: default and imports clusters. Press Ctrl-C to stop.")

        def stop(signum, frame):
            raise KeyboardInterrupt

        # `make run` under a supervisor or `timeout` gets SIGTERM: stop the children too.
        signal.signal(signal.SIGTERM, stop)
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
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        failed = [p for p in procs if p.returncode not in (0, -signal.SIGINT, None)]
        if failed:
            sys.exit(1)
