"""Demo runbooks (the project's own plans in runbooks/demo_plans/) and one run in progress."""

from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from environments.models import Environment

from . import services
from .choices import CheckType, StepStatus
from .models import Run, Runbook, Step, StepRun

PLANS = Path(__file__).resolve().parent / "demo_plans"


def load(*, users: dict, stdout) -> None:
    admin, operator, approver = users["admin"], users["operator"], users["approver"]
    prod = Environment.objects.filter(project__slug="makalah-ai", name="prod").first()
    for path in sorted(PLANS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        title_exists = Runbook.objects.filter(versions__source_name=path.name).exists()
        if title_exists:
            continue
        project = prod.project if prod and path.name == "release-checklist.md" else None
        allowed = prod.url if prod and prod.url and project else ""
        version = services.runbook_import(
            actor=admin, text=text, source_name=path.name, project=project, allowed_urls=allowed
        )
        stdout.write(f"  runbook {version}")
    if prod is None:
        stdout.write("  no makalah.ai prod environment: demo run skipped")
        return
    runbook = Runbook.objects.filter(versions__source_name="release-checklist.md").first()
    if runbook is None or Run.objects.filter(version__runbook=runbook).exists():
        return
    version = runbook.latest_version()
    # Configure the UI-only parts (second sign-off, automated checks), each a new version.
    edits = [
        ("Promote", {"requires_second_signoff": True}),
        ("Production variables", {"check_type": CheckType.ENV_CLEAN, "check_config": {}}),
    ]
    if prod.url:
        edits += [
            (
                "Health",
                {
                    "check_type": CheckType.HTTP,
                    "check_config": {"url": prod.url, "expected_status": 200, "timeout": 5},
                },
            ),
            (
                "P95",
                {
                    "check_type": CheckType.LATENCY,
                    "check_config": {"url": prod.url, "requests": 20, "threshold_ms": 500},
                },
            ),
        ]
    for prefix, change in edits:
        step = Step.objects.for_version(version).filter(title__startswith=prefix).first()
        if step is None:
            continue
        fields = {
            "title": step.title,
            "body": step.body,
            "required": step.required,
            "requires_second_signoff": step.requires_second_signoff,
            "check_type": step.check_type,
            "check_config": step.check_config,
            **change,
        }
        version = services.step_update(actor=admin, step=step, **fields)
    now = timezone.now()
    run = services.run_start(
        actor=operator,
        version=version,
        environment=prod,
        planned_start=now - timedelta(minutes=20),
        planned_end=now + timedelta(minutes=40),
    )
    srs = list(StepRun.objects.filter(run=run).select_related("step__phase"))
    for sr in srs[:3]:
        signed = services.step_sign(
            actor=operator, step_run=sr, note="Done", evidence_text="checked on the dashboard"
        )
        if signed.status == StepStatus.AWAITING_SECOND:
            # prod is protected: by default every step there takes a second person.
            services.step_second_sign(actor=approver, step_run=signed, note="Seen it done")
    for sr in srs:
        if sr.step.requires_second_signoff:
            services.step_sign(actor=operator, step_run=sr, note="Promoted build")
            services.step_second_sign(actor=approver, step_run=sr, note="Looked at the diff")
            break
    env_step = next((sr for sr in srs if sr.step.check_type == CheckType.ENV_CLEAN), None)
    if env_step is not None:
        # Queued for the django-q2 worker that `make run` starts: its result lands on the step.
        services.check_request(actor=operator, step_run=env_step)
    stdout.write(f"  run in progress: {run}")
