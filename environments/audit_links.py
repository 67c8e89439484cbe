"""How the audit trail links what this app records (read by ``opsportal.audit.links``)."""

from django.db.models import Q

from opsportal.audit.links import by_pk

LINKS = {
    "environments.environment": by_pk("environments:environment_detail"),
    "environments.configvar": by_pk("environments:configvar_edit"),
    "environments.changerequest": by_pk("environments:changerequest_detail"),
}

REFERENCES = {
    "change_request": "environments.changerequest",
    "replaced_by": "environments.changerequest",
}

TYPE_LABELS = {
    "environments.configvar": "variable",
    "environments.changerequest": "change request",
}


def configvar_history(var) -> Q:
    """A variable's events, also those of an earlier variable of the same key that was deleted
    and added again (the events name it ``<project> / <environment> / <key>``; project names are
    unique and environment names unique in their project, so the name alone is the variable's
    place). Not also by ``environment_id``: PostgreSQL would AND the name's few rows with every
    event of the environment (140,000 at scale, 23 ms) instead of reading the name's index alone."""
    return Q(target_type="environments.configvar", target_repr=f"{var.environment} / {var.key}")


HISTORY = {"environments.configvar": configvar_history}
