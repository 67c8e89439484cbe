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
    and added again (the events name it ``<environment> / <key>``)."""
    return Q(
        target_type="environments.configvar",
        environment_id=var.environment_id,
        target_repr=f"{var.environment} / {var.key}",
    )


HISTORY = {"environments.configvar": configvar_history}
