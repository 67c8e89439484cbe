"""django-q2 entry points (thin: load by id, call a service).

A check returns the result as stored (masked by the step run's field), never the raw one:
django-q2 keeps return values in its own table. Failures are masked by ``masks_failures``.
"""

from opsportal.tasking import masks_failures

from .checks import run_for
from .models import StepRun
from .services import check_record


@masks_failures
def run_check(step_run_id: int) -> dict:
    step_run = StepRun.objects.select_related(
        "run__version__runbook", "run__environment", "step"
    ).get(pk=step_run_id)
    result = run_for(step_run)
    return check_record(step_run_id=step_run_id, result=result).check_result
