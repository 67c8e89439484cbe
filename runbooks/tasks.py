"""django-q2 entry points (thin: load by id, call a service)."""

from .checks import run_for
from .models import StepRun
from .services import check_record


def run_check(step_run_id: int) -> dict:
    step_run = StepRun.objects.select_related(
        "run__version__runbook", "run__environment", "step"
    ).get(pk=step_run_id)
    result = run_for(step_run)
    check_record(step_run_id=step_run_id, result=result)
    return result
