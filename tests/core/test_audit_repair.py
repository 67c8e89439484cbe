"""Events written before the masking knew a credential are redacted by the repair."""

import io
import random
import string

import pytest
from django.core.management import call_command
from django.db import transaction

from opsportal.audit import services as audit_services
from opsportal.audit.models import AuditEvent
from opsportal.audit.repair import redact_known_credentials
from opsportal.audit.services import record


@pytest.mark.parametrize("seed", [4, 9])
def test_old_events_quoting_credentials_are_redacted_and_the_chain_verifies(db, monkeypatch, seed):
    rng = random.Random(seed)
    token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24))
    hook = f"https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/{token}"
    deploy_key = f"prod:basic-oriole-337|{token}Zz9"
    monkeypatch.setattr(audit_services, "scrub", lambda value, **kw: value)
    monkeypatch.setattr(audit_services, "scrub_text", lambda text: text)
    with transaction.atomic():
        record(actor=None, action="runbook.step.signed_off",
               changes={"note": f"posted to {hook}", "step": "Notify"},
               message=f"evidence: CONVEX_DEPLOY_KEY={deploy_key}")  # fmt: skip
        record(actor=None, action="configvar.updated", changes={"key": "NODE_ENV"})
    monkeypatch.undo()

    with transaction.atomic():
        assert redact_known_credentials() == 2
        assert redact_known_credentials() == 0  # idempotent

    rows = list(AuditEvent.objects.values_list("changes", "message"))
    assert not [r for r in rows if token in str(r)]
    signed = AuditEvent.objects.get(action="runbook.step.signed_off")
    assert signed.changes["step"] == "Notify"  # only what quoted a credential is gone
    assert AuditEvent.objects.filter(action="audit.event.redacted").count() == 2
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue().startswith("Audit chain intact")
