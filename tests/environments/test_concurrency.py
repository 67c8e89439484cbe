"""Two approvers press "approve" at the same moment: the change applies exactly once."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from environments import services
from environments.choices import ChangeRequestStatus
from environments.models import ChangeRequest
from opsportal.audit.models import AuditEvent

from .factories import ConfigVarFactory


@pytest.mark.postgres
def test_concurrent_approvals_apply_once(postgres_only, transactional_db, users, prod):
    ConfigVarFactory(environment=prod, key="API_SECRET", raw="old-secret-value-0001")
    cr = services.configvar_rotate(
        actor=users["operator"],
        configvar=prod.variables.get(),
        new_value="new-secret-value-0002",
        reason="rotation",
    ).change_request
    barrier = threading.Barrier(2)
    outcomes = []

    def approve(user):
        try:
            barrier.wait()
            services.changerequest_approve(
                actor=user, change_request=ChangeRequest.objects.get(pk=cr.pk)
            )
            outcomes.append("applied")
        except ValidationError as exc:
            outcomes.append(exc.messages[0])
        finally:
            connection.close()

    threads = [
        threading.Thread(target=approve, args=(users[n],)) for n in ("approver", "approver2")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(outcomes) == 2 and outcomes.count("applied") == 1
    (refused,) = [o for o in outcomes if o != "applied"]
    assert "already approved and applied" in refused
    cr.refresh_from_db()
    assert cr.status == ChangeRequestStatus.APPLIED
    assert AuditEvent.objects.filter(action="configvar.rotated").count() == 1
    assert AuditEvent.objects.filter(action="changerequest.applied").count() == 1
