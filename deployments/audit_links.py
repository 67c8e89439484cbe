"""How the audit trail links what this app records (read by ``opsportal.audit.links``)."""

from opsportal.audit.links import by_pk

LINKS = {"deployments.deployment": by_pk("deployments:deployment_detail")}

REFERENCES = {"deployment": "deployments.deployment"}
