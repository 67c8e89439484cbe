"""Forms keep what was typed on every validation error.

One row per write page (form-level or service-level refusal): a POST that fails, and the text
the person typed must be in the response, which is the page again (4xx or 200), not a redirect
to an empty form. Not echoed, on purpose: secret values (a variable's value, a rotation's new
value, pasted .env text, a channel's webhook URL) and passwords — a page never sends those back.

Audited elsewhere and not repeated here: pages whose only input is a button (confirm, resume,
complete, retry, delete a channel) or whose refusal leaves nothing typed (a missing reason).
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from deployments.choices import DeploymentStatus
from environments import services as env_services
from environments.choices import Tier
from imports import services as import_services
from imports.models import ImportJob, Product, ReviewItem
from opsportal.audit.models import AuditEvent
from runbooks import services as rb_services
from runbooks.models import Run
from tests.deployments.factories import DeploymentFactory
from tests.environments.factories import ConfigVarFactory
from tests.factories import EnvironmentFactory, ProjectFactory
from tests.imports.factories import CLEAN, apply_file, make_job

pytestmark = pytest.mark.django_db

PLAN = """# Release

## Ship

- [ ] Promote the build
- [ ] Smoke test
"""
TYPED = "typed-Kept-7781"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(user_factory):
    project = ProjectFactory(name="acme.app", slug="acme-app")
    return {
        "project": project,
        "dev": EnvironmentFactory(project=project, name="dev", tier=Tier.DEVELOPMENT),
        "prod": EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION),
        "operator": user_factory("operator", username="otto"),
        "approver": user_factory("approver", username="anna"),
        "admin": user_factory("admin", username="ada"),
    }


def _run(w):
    version = rb_services.runbook_import(actor=w["operator"], text=PLAN, source_name="r.md")
    now = timezone.now()
    return rb_services.run_start(
        actor=w["operator"], version=version, environment=w["dev"],
        planned_start=now, planned_end=now + timedelta(hours=1),
    )  # fmt: skip


# --- cases: world -> (role, url, data, headers) ------------------------------------------------
def project_create(w):
    url = reverse("environments:project_create")
    return "operator", url, {"name": "acme.app", "description": TYPED}, {}


def environment_create(w):
    url = reverse("environments:environment_create", args=["acme-app"])
    data = {"name": "stage", "tier": "staging", "url": "not a url", "notes": TYPED,
            "protected": "default"}  # fmt: skip
    return "operator", url, data, {}


def configvar_create(w):
    url = reverse("environments:configvar_create", args=[w["dev"].pk])
    return "operator", url, {"key": "9BAD", "secret": "no", "description": TYPED}, {}


def configvar_edit_protected(w):
    var = ConfigVarFactory(environment=w["prod"], key="FLAG", raw="on")
    url = reverse("environments:configvar_edit", args=[var.pk])
    return "operator", url, {"secret": "no", "description": TYPED, "reason": ""}, {}


def configvar_delete(w):
    var = ConfigVarFactory(environment=w["dev"], key="FLAG", raw="on")
    url = reverse("environments:configvar_delete", args=[var.pk])
    return "operator", url, {"confirm": "FLA", "reason": TYPED}, {}


def configvar_rotate(w):
    var = ConfigVarFactory(environment=w["dev"], key="API_SECRET", raw="secret-value-000111")
    url = reverse("environments:configvar_rotate", args=[var.pk])
    return "operator", url, {"new_value": "secret-value-000111", "reason": TYPED}, {}


def deployment_add(w):
    url = reverse("environments:deployment_add", args=[w["dev"].pk])
    data = {"provider": "vercel", "identifier": "", "url": f"https://{TYPED}.example"}
    return "operator", url, data, {}


def env_import(w):
    url = reverse("environments:env_import", args=[w["dev"].pk])
    return "operator", url, {"text": "", "reason": TYPED, "format": "auto"}, {}


def changerequest_approve(w):
    cr = env_services.configvar_save(
        actor=w["operator"], environment=w["prod"], key="FLAG", value="on", is_secret=False,
        reason="launch",
    ).change_request  # fmt: skip
    url = reverse("environments:changerequest_decide", args=[cr.pk, "approve"])
    return "approver", url, {"reason": TYPED, "confirm": "dev"}, {}


def runbook_import(w):
    url = reverse("runbooks:runbook_import")
    return "operator", url, {"text": f"{TYPED}: words, no plan", "allowed_urls": ""}, {}


def run_start(w):
    version = rb_services.runbook_import(actor=w["operator"], text=PLAN, source_name="r.md")
    url = reverse("runbooks:run_start", args=[version.pk])
    data = {"environment": w["dev"].pk, "planned_start": "2031-05-06T10:00",
            "planned_end": "2031-05-06T09:00"}  # fmt: skip
    return "operator", url, data, {}


def step_skip(w):
    run = _run(w)
    sr = run.step_runs.order_by("pk").first()
    url = reverse("runbooks:step_action", args=[sr.pk, "skip"])
    return "operator", url, {"note": "", "evidence_text": TYPED}, {}


def step_skip_htmx(w):
    role, url, data, _ = step_skip(w)
    return role, url, data, {"HTTP_HX_REQUEST": "true"}


def run_abort(w):
    run = _run(w)
    url = reverse("runbooks:run_abort", args=[run.pk])
    return "operator", url, {"reason": TYPED + "x" * 2000}, {}  # over the 2000 characters


def import_rollback(w):
    job = apply_file(w["operator"], CLEAN / "products.csv")
    url = reverse("imports:job_rollback", args=[job.pk])
    return "operator", url, {"confirm": "#999", "reason": TYPED}, {}


def review_decide(w):
    item = ReviewItem.objects.create(kind="duplicate_member", key="+6281200000001",
                                     summary="shared phone")  # fmt: skip
    url = reverse("imports:review_decide", args=[item.pk])
    return "approver", url, {"decision": "verified", "note": TYPED + "x" * 1000}, {}


def preset_create(w):
    url = reverse("imports:preset_create")
    return "operator", url, {"kind": "orders", "name": TYPED}, {}


def product_edit(w):
    apply_file(w["operator"], CLEAN / "products.csv")
    product = Product.objects.order_by("pk").first()
    url = reverse("imports:product_edit", args=[product.pk])
    data = {"price": "150.000", "commission_kind": "percent", "commission_value": TYPED,
            "access_days": "30", "reason": "typo"}  # fmt: skip
    return "admin", url, data, {}


def my_token(w):
    return "operator", reverse("api_tokens:mine"), {"name": TYPED, "expires_days": "30"}, {}


def channel_create(w):
    url = reverse("notifications:channel_create")
    return "admin", url, {"name": TYPED, "kind": "webhook", "url": "ftp://nope"}, {}


def deployment_rolled_back(w):
    dep = DeploymentFactory(environment=w["dev"], status=DeploymentStatus.FAILURE)
    url = reverse("deployments:deployment_rolled_back", args=[dep.pk])
    return "operator", url, {"reason": TYPED}, {}


CASES = [
    project_create, environment_create, configvar_create, configvar_edit_protected,
    configvar_delete, configvar_rotate, deployment_add, env_import, changerequest_approve,
    runbook_import, run_start, step_skip, step_skip_htmx, run_abort,
    import_rollback, review_decide, preset_create, product_edit, my_token, channel_create,
    deployment_rolled_back,
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_a_failed_post_keeps_what_was_typed(case, world):
    role, url, data, headers = case(world)
    client = Client()
    client.force_login(world[role])
    before = AuditEvent.objects.exclude(action__startswith="auth.").count()
    response = client.post(url, data, **headers)
    assert response.status_code in (200, 400), (response.status_code, response.get("Location"))
    page = response.content.decode()
    assert "form" in page or headers
    if case is run_start:
        assert "2031-05-06T10:00" in page and "2031-05-06T09:00" in page
    else:
        assert TYPED in page, f"{case.__name__}: the typed text is gone"
    # nothing was written: the failure records no audit event
    assert AuditEvent.objects.exclude(action__startswith="auth.").count() == before


def test_a_refused_cancel_shows_the_reason_again(world):
    """A cancel refused by the service (the job finished meanwhile) shows the job page again
    with the typed reason, not a redirect."""
    job = make_job(world["operator"], CLEAN / "products.csv")
    client = Client()
    client.force_login(world["operator"])
    import_services.job_cancel(actor=world["operator"], job=job, reason="first")
    assert AuditEvent.objects.filter(action="import.job.cancelled", job_id=job.pk).count() == 1
    response = client.post(reverse("imports:job_cancel", args=[job.pk]), {"reason": TYPED})
    assert response.status_code == 400
    assert "nothing to cancel" in response.content.decode()
    assert AuditEvent.objects.filter(action="import.job.cancelled", job_id=job.pk).count() == 1


def test_a_refused_abort_keeps_the_run(world):
    run = _run(world)
    client = Client()
    client.force_login(world["operator"])
    client.post(reverse("runbooks:run_abort", args=[run.pk]), {"reason": TYPED + "x" * 2000})
    assert Run.objects.get(pk=run.pk).status == run.status
    assert not AuditEvent.objects.filter(action__contains="abort").exists()


def test_a_refused_follow_up_upload_stays_a_follow_up(world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.imports.factories import MESSY

    job = make_job(world["operator"], MESSY / "orders.csv")  # no members yet: rows rejected
    assert job.row_errors.exists()
    assert AuditEvent.objects.filter(action="import.job.uploaded", job_id=job.pk).exists()
    client = Client()
    client.force_login(world["operator"])
    response = client.post(
        reverse("imports:job_upload"),
        {"file": SimpleUploadedFile("fixed.csv", b"INV,product\n1,a\n"), "kind": "orders",
         "batch_size": "7", "parent": job.pk},
    )  # fmt: skip
    assert response.status_code == 400
    page = response.content.decode()
    assert f'name="parent" value="{job.pk}"' in page and 'value="7"' in page
    assert not ImportJob.objects.exclude(pk=job.pk).exists()
