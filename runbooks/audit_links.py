"""How the audit trail links what this app records (read by ``opsportal.audit.links``)."""

from django.db.models import Q

from opsportal.audit.links import by_pk

LINKS = {
    "runbooks.runbook": by_pk("runbooks:runbook_detail"),
    "runbooks.runbookversion": by_pk("runbooks:version_detail"),
    "runbooks.run": by_pk("runbooks:run_detail"),
}

REFERENCES = {"run": "runbooks.run"}

TYPE_LABELS = {"runbooks.runbookversion": "runbook version", "runbooks.steprun": "step"}


def runbook_history(runbook) -> Q:
    """A runbook's events: its own and its versions' (imports, edits of steps and phases)."""
    versions = [str(pk) for pk in runbook.versions.values_list("pk", flat=True)]
    return Q(target_type="runbooks.runbookversion", target_id__in=versions)


HISTORY = {"runbooks.runbook": runbook_history}
