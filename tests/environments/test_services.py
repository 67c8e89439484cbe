"""Services: every write, its authorisation and its audit event."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from environments import services
from environments.choices import ChangeRequestStatus, Tier
from environments.models import ChangeRequest, ConfigVar, Environment, Project
from opsportal.audit.masking import fingerprint
from opsportal.audit.models import AuditEvent

from .factories import ConfigVarFactory

pytestmark = pytest.mark.django_db


def actions():
    return list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))


def plan_for(env, text, **kw):
    return services.import_plan(environment=env, text=text, **kw)


# --- projects and environments ----------------------------------------------------------------
def test_project_and_environment_create_audited(users):
    op = users["operator"]
    project = services.project_create(actor=op, name="makalah.ai")
    assert project.slug == "makalah-ai"
    prod = services.environment_create(actor=op, project=project, name="prod")
    dev = services.environment_create(actor=op, project=project, name="dev")
    assert (prod.tier, prod.protected) == (Tier.PRODUCTION, True)
    assert (dev.tier, dev.protected) == (Tier.DEVELOPMENT, False)
    assert actions() == ["project.created", "environment.created", "environment.created"]
    event = AuditEvent.objects.get(action="environment.created", environment_id=prod.pk)
    assert event.tier == Tier.PRODUCTION
    with pytest.raises(ValidationError, match="already has an environment named"):
        services.environment_create(actor=op, project=project, name="PROD")


def test_production_cannot_be_created_unprotected(users, project):
    with pytest.raises(ValidationError) as info:
        services.environment_create(
            actor=users["operator"], project=project, name="live", protected=False
        )
    assert "always protected" in info.value.message_dict["protected"][0]
    assert not project.environments.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        ("prod", "production"),
        ("Production", "production"),
        ("preview-123", "preview"),
        ("staging", "staging"),
        ("qa", "development"),
    ],
)
def test_tier_from_name(name, tier):
    assert services.tier_from_name(name) == tier


def test_viewer_cannot_create(users, project):
    with pytest.raises(PermissionDenied, match="vera is not allowed to create projects"):
        services.project_create(actor=users["viewer"], name="x")
    with pytest.raises(PermissionDenied):
        services.environment_create(actor=users["viewer"], project=project, name="dev")
    assert not AuditEvent.objects.exists()
    assert Project.objects.count() == 1


# --- the authorisation matrix for every write -----------------------------------------------------
def _writes(env, var):
    """Each write a user can attempt on ``env``; ``var`` is an existing variable there."""
    return {
        "settings": lambda u: services.environment_update(
            actor=u, environment=env, notes="changed", reason="why"
        ),
        "deployment": lambda u: services.deployment_add(
            actor=u, environment=env, provider="vercel", identifier="web", reason="why"
        ),
        "var_create": lambda u: services.configvar_save(
            actor=u, environment=env, key="NEW_VAR", value="hello", reason="why"
        ),
        "var_update": lambda u: services.configvar_save(
            actor=u, environment=env, key=var.key, value="brand-new-value", reason="why"
        ),
        "var_delete": lambda u: services.configvar_delete(
            actor=u, environment=env, key=var.key, reason="why"
        ),
        "rotate": lambda u: services.configvar_rotate(
            actor=u, configvar=var, new_value="rotated-value-0123456789", reason="why"
        ),
        "import": lambda u: services.env_import_apply(
            actor=u, environment=env, plan=plan_for(env, "IMPORTED=1\n"), reason="why"
        ),
    }


WRITES = ["settings", "deployment", "var_create", "var_update", "var_delete", "rotate", "import"]


@pytest.mark.parametrize("write", WRITES)
def test_viewer_is_refused_every_write(users, dev, write):
    var = ConfigVarFactory(environment=dev, key="API_SECRET", raw="old-secret-value-123")
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        _writes(dev, var)[write](users["viewer"])
    assert AuditEvent.objects.count() == before
    assert ChangeRequest.objects.count() == 0


@pytest.mark.parametrize("write", WRITES)
def test_operator_applies_directly_on_unprotected(users, dev, write):
    var = ConfigVarFactory(environment=dev, key="API_SECRET", raw="old-secret-value-123")
    result = _writes(dev, var)[write](users["operator"])
    assert result.applied and result.change_request is None
    assert ChangeRequest.objects.count() == 0
    expected = {
        "settings": "environment.updated",
        "deployment": "environment.deployment.added",
        "var_create": "configvar.created",
        "var_update": "configvar.updated",
        "var_delete": "configvar.deleted",
        "rotate": "configvar.rotated",
        "import": "env.import.applied",
    }[write]
    event = AuditEvent.objects.get(action=expected)
    assert event.environment_id == dev.pk
    assert event.actor == users["operator"]
    if write.startswith("var_") or write == "rotate":
        assert event.target_type == "environments.configvar"
        if write != "var_create":
            assert event.target_id == str(var.pk)


@pytest.mark.parametrize("write", WRITES)
def test_operator_on_protected_creates_change_request(users, prod, write):
    var = ConfigVarFactory(environment=prod, key="API_SECRET", raw="old-secret-value-123")
    state = (prod.notes, list(prod.variables.values_list("key", "fingerprint")))
    result = _writes(prod, var)[write](users["operator"])
    assert not result.applied
    cr = result.change_request
    assert cr.status == ChangeRequestStatus.PENDING and cr.author == users["operator"]
    prod.refresh_from_db()
    assert (prod.notes, list(prod.variables.values_list("key", "fingerprint"))) == state
    assert actions() == ["changerequest.created"]
    assert AuditEvent.objects.get().tier == Tier.PRODUCTION


@pytest.mark.parametrize("write", WRITES)
def test_approver_approves_someone_elses_request_and_it_applies(users, prod, write):
    var = ConfigVarFactory(environment=prod, key="API_SECRET", raw="old-secret-value-123")
    cr = _writes(prod, var)[write](users["operator"]).change_request
    with pytest.raises(PermissionDenied):
        services.changerequest_approve(actor=users["operator"], change_request=cr)
    services.changerequest_approve(actor=users["approver"], change_request=cr, reason="ok")
    cr.refresh_from_db()
    assert cr.status == ChangeRequestStatus.APPLIED and cr.decided_by == users["approver"]
    assert "changerequest.approved" in actions() and "changerequest.applied" in actions()
    prod.refresh_from_db()
    if write == "settings":
        assert prod.notes == "changed"
    elif write == "var_create":
        assert prod.variables.get(key="NEW_VAR").value == "hello"
    elif write == "var_delete":
        assert not prod.variables.filter(key="API_SECRET").exists()
    elif write == "rotate":
        var.refresh_from_db()
        assert var.fingerprint == fingerprint("rotated-value-0123456789")
        assert var.last_rotated_at is not None
    elif write == "import":
        assert prod.variables.filter(key="IMPORTED").exists()
        assert "env.import.applied" in actions()


@pytest.mark.parametrize("write", WRITES)
def test_approver_cannot_approve_own_request(users, prod, write):
    var = ConfigVarFactory(environment=prod, key="API_SECRET", raw="old-secret-value-123")
    cr = _writes(prod, var)[write](users["approver"]).change_request
    assert cr is not None
    with pytest.raises(PermissionDenied, match="cannot approve your own"):
        services.changerequest_approve(actor=users["approver"], change_request=cr)
    cr.refresh_from_db()
    assert cr.status == ChangeRequestStatus.PENDING
    assert actions() == ["changerequest.created"]


def test_reject_needs_reason_and_another_approver(users, prod):
    cr = services.configvar_save(
        actor=users["operator"], environment=prod, key="A", value="1", reason="why"
    ).change_request
    with pytest.raises(ValidationError):
        services.changerequest_reject(actor=users["approver"], change_request=cr, reason=" ")
    with pytest.raises(PermissionDenied):
        services.changerequest_reject(actor=users["viewer"], change_request=cr, reason="no")
    services.changerequest_reject(actor=users["approver"], change_request=cr, reason="not now")
    cr.refresh_from_db()
    assert (cr.status, cr.decision_reason) == (ChangeRequestStatus.REJECTED, "not now")
    assert actions() == ["changerequest.created", "changerequest.rejected"]
    assert not prod.variables.exists()
    with pytest.raises(ValidationError, match="already rejected"):
        services.changerequest_approve(actor=users["approver2"], change_request=cr)


def test_only_the_author_withdraws(users, prod):
    cr = services.configvar_save(
        actor=users["operator"], environment=prod, key="A", value="1", reason="why"
    ).change_request
    with pytest.raises(PermissionDenied, match="Only the author"):
        services.changerequest_withdraw(actor=users["approver"], change_request=cr)
    services.changerequest_withdraw(actor=users["operator"], change_request=cr)
    cr.refresh_from_db()
    assert cr.status == ChangeRequestStatus.WITHDRAWN
    assert actions() == ["changerequest.created", "changerequest.withdrawn"]


def test_stale_change_request_is_refused_and_nothing_applies(users, prod):
    ConfigVarFactory(environment=prod, key="A", raw="one")
    cr1 = services.configvar_save(
        actor=users["operator"], environment=prod, key="A", value="two", reason="x"
    ).change_request
    cr2 = services.configvar_save(
        actor=users["operator"], environment=prod, key="A", value="three", reason="y"
    ).change_request
    services.changerequest_approve(actor=users["approver"], change_request=cr1)
    # the apply of cr1 marked cr2 stale (audited): it can no longer be approved
    assert AuditEvent.objects.filter(action="changerequest.stale", target_id=str(cr2.pk)).exists()
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError, match="already stale: prepare it again"):
        services.changerequest_approve(actor=users["approver"], change_request=cr2)
    cr2.refresh_from_db()
    assert cr2.status == ChangeRequestStatus.STALE
    assert prod.variables.get(key="A").value == "two"
    assert AuditEvent.objects.count() == before


def test_a_request_prepared_before_another_field_changed_is_refused(users, prod):
    """Two pending edits of one variable touching different fields: approving the second after
    the first must not quietly undo the first (it writes its whole prepared state)."""
    ConfigVarFactory(environment=prod, key="A", raw="one")
    describe = services.configvar_save(
        actor=users["operator"], environment=prod, key="A", description="the A flag", reason="x"
    ).change_request
    own = services.configvar_save(
        actor=users["operator"], environment=prod, key="A", owner="platform", reason="y"
    ).change_request
    services.changerequest_approve(actor=users["approver"], change_request=own)
    assert prod.variables.get(key="A").owner == "platform"
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError, match="already stale: prepare it again"):
        services.changerequest_approve(actor=users["approver"], change_request=describe)
    describe.refresh_from_db()
    assert describe.status == ChangeRequestStatus.STALE
    assert describe.replaced_by == own
    var = prod.variables.get(key="A")
    assert (var.owner, var.description) == ("platform", "")
    assert AuditEvent.objects.count() == before


def test_unprotecting_production_is_refused(users, prod):
    # Production is always protected: not even a change request can take it off.
    with pytest.raises(ValidationError, match="always protected"):
        services.environment_update(
            actor=users["operator"], environment=prod, protected=False, reason="maintenance"
        )
    assert Environment.objects.get(pk=prod.pk).protected
    assert not prod.change_requests.exists()


# --- variables ----------------------------------------------------------------------------------
def test_secret_value_is_never_stored(users, dev):
    services.configvar_save(
        actor=users["operator"],
        environment=dev,
        key="CLERK_SECRET_KEY",
        value="sk_test_0123456789abcdef",
        required=True,
    )
    var = ConfigVar.objects.get(key="CLERK_SECRET_KEY")
    assert var.is_secret and var.value == "" and var.hint == "…cdef"
    assert var.fingerprint == fingerprint("sk_test_0123456789abcdef")
    assert var.value_kind == "clerk_secret_test" and var.required
    event = AuditEvent.objects.get(action="configvar.created")
    assert "sk_test_0123456789abcdef" not in str(event.changes)


def test_public_value_is_stored_and_override_to_secret(users, dev):
    services.configvar_save(
        actor=users["operator"],
        environment=dev,
        key="NEXT_PUBLIC_CONVEX_URL",
        value="https://wary-ferret-59.convex.cloud",
    )
    var = ConfigVar.objects.get()
    assert not var.is_secret and var.value == "https://wary-ferret-59.convex.cloud"
    services.configvar_save(actor=users["operator"], environment=dev, key=var.key, is_secret=True)
    var.refresh_from_db()
    assert var.is_secret and var.value == "" and var.fingerprint
    with pytest.raises(ValidationError, match="Enter the value"):
        services.configvar_save(
            actor=users["operator"], environment=dev, key=var.key, is_secret=False
        )
    assert actions() == ["configvar.created", "configvar.updated"]


def test_credential_is_secret_even_when_marked_public(users, dev):
    services.configvar_save(
        actor=users["operator"],
        environment=dev,
        key="NEXT_PUBLIC_KEY",
        value="sk_live_0123456789abcdef",
        is_secret=False,
    )
    var = ConfigVar.objects.get()
    assert var.is_secret and var.value == ""
    assert actions() == ["configvar.created"]
    assert "0123456789abcdef" not in str(AuditEvent.objects.get().changes)


def test_invalid_key_and_no_change(users, dev):
    with pytest.raises(ValidationError, match="Invalid variable name"):
        services.configvar_save(actor=users["operator"], environment=dev, key="A-B", value="1")
    ConfigVarFactory(environment=dev, key="A", raw="1")
    with pytest.raises(ValidationError, match="Nothing to change"):
        services.configvar_save(actor=users["operator"], environment=dev, key="A", value="1")
    assert not AuditEvent.objects.exists()


def test_rotation_refuses_same_fingerprint(users, dev):
    var = ConfigVarFactory(environment=dev, key="API_SECRET", raw="same-secret-value-123")
    with pytest.raises(ValidationError, match="same fingerprint"):
        services.configvar_rotate(
            actor=users["operator"], configvar=var, new_value="same-secret-value-123"
        )
    assert not AuditEvent.objects.exists()
    services.configvar_rotate(
        actor=users["operator"], configvar=var, new_value="other-secret-value-456"
    )
    var.refresh_from_db()
    assert var.fingerprint == fingerprint("other-secret-value-456") and var.last_rotated_at
    event = AuditEvent.objects.get(action="configvar.rotated")
    assert event.changes["fingerprint_changed"] is True


# --- import -------------------------------------------------------------------------------------
def test_import_preview_then_apply(users, dev):
    ConfigVarFactory(environment=dev, key="KEEP", raw="same")
    ConfigVarFactory(environment=dev, key="CHANGE_SECRET", raw="old-secret-value-aaaa")
    ConfigVarFactory(environment=dev, key="GONE", raw="x")
    text = "KEEP=same\nCHANGE_SECRET=new-secret-value-bbbb\nNEXT_PUBLIC_URL=https://example.com\n"
    plan = plan_for(dev, text)
    assert [c["key"] for c in plan.added] == ["NEXT_PUBLIC_URL"]
    assert [c["key"] for c in plan.changed] == ["CHANGE_SECRET"]
    assert plan.changed[0]["fingerprint_changed"] is True
    assert "new-secret-value-bbbb" not in str(plan.as_dict())
    assert [c["key"] for c in plan.removed] == ["GONE"]
    assert [c["key"] for c in plan.unchanged] == ["KEEP"]
    assert not AuditEvent.objects.exists()  # a preview writes nothing

    result = services.env_import_apply(actor=users["operator"], environment=dev, plan=plan)
    assert result.counts == {"created": 1, "updated": 1, "deleted": 0, "rotated": 0}
    assert set(dev.variables.values_list("key", flat=True)) == {
        "KEEP",
        "CHANGE_SECRET",
        "GONE",
        "NEXT_PUBLIC_URL",
    }
    assert actions() == ["configvar.updated", "configvar.created", "env.import.applied"]
    summary = AuditEvent.objects.get(action="env.import.applied")
    assert summary.changes["counts"]["created"] == 1
    assert summary.environment_id == dev.pk


def test_import_remove_missing(users, dev):
    ConfigVarFactory(environment=dev, key="GONE", raw="x")
    plan = plan_for(dev, "NEW=1\n", remove_missing=True)
    services.env_import_apply(actor=users["operator"], environment=dev, plan=plan)
    assert list(dev.variables.values_list("key", flat=True)) == ["NEW"]
    assert "configvar.deleted" in actions()


def test_import_keeps_operator_secret_choice(users, dev):
    ConfigVarFactory(environment=dev, key="SITE_NAME", raw="Acme", secret=True)
    plan = plan_for(dev, "SITE_NAME=Acme 2\n")
    services.env_import_apply(actor=users["operator"], environment=dev, plan=plan)
    var = dev.variables.get(key="SITE_NAME")
    assert var.is_secret and var.value == ""
    assert actions() == ["configvar.updated", "env.import.applied"]


def test_import_overrides(users, dev):
    plan = plan_for(
        dev, "SITE_TOKEN=abc\nPLAIN=xyz\n", public_keys=["SITE_TOKEN"], secret_keys=["PLAIN"]
    )
    services.env_import_apply(actor=users["operator"], environment=dev, plan=plan)
    assert dev.variables.get(key="SITE_TOKEN").value == "abc"
    assert dev.variables.get(key="PLAIN").is_secret
    assert actions() == ["configvar.created", "configvar.created", "env.import.applied"]


def test_import_nothing_to_do(users, dev):
    ConfigVarFactory(environment=dev, key="A", raw="1")
    plan = plan_for(dev, "A=1\n")
    with pytest.raises(ValidationError, match="Nothing to import"):
        services.env_import_apply(actor=users["operator"], environment=dev, plan=plan)


def test_import_into_protected_is_one_change_request_applied_atomically(users, prod):
    text = "A_SECRET=secret-value-0001-abcd\nB=public\n"
    result = services.env_import_apply(
        actor=users["operator"], environment=prod, plan=plan_for(prod, text), reason="go"
    )
    cr = result.change_request
    assert cr.kind == "import" and not prod.variables.exists()
    assert "secret-value-0001-abcd" not in str(cr.payload)
    services.changerequest_approve(actor=users["approver"], change_request=cr)
    assert set(prod.variables.values_list("key", flat=True)) == {"A_SECRET", "B"}
    assert prod.variables.get(key="A_SECRET").fingerprint == fingerprint("secret-value-0001-abcd")
    assert actions() == [
        "changerequest.created",
        "changerequest.approved",
        "configvar.created",
        "configvar.created",
        "changerequest.applied",
        "env.import.applied",
    ]


def test_markdown_table_declares_inventory(users, dev):
    ConfigVarFactory(environment=dev, key="CLERK_SECRET_KEY", raw="sk_test_abcdefghijkl")
    table = (
        "| Variable | Required | Example | Description |\n"
        "|---|---|---|---|\n"
        "| `CLERK_SECRET_KEY` | yes | `sk_test_...` | Clerk backend key |\n"
        "| `NEXT_PUBLIC_CONVEX_URL` | yes | https://x.convex.cloud | Convex URL |\n"
        "| `WEBHOOK_SECRET` | no | | |\n"
    )
    plan = plan_for(dev, table)
    assert plan.fmt == "markdown"
    assert [c["key"] for c in plan.added] == ["NEXT_PUBLIC_CONVEX_URL", "WEBHOOK_SECRET"]
    assert plan.changed[0]["fields"] == ["description", "example", "required"]
    assert plan.changed[0]["value_changed"] is False
    services.env_import_apply(actor=users["operator"], environment=dev, plan=plan)
    clerk = dev.variables.get(key="CLERK_SECRET_KEY")
    assert clerk.required and clerk.example == "sk_test_..." and clerk.has_value
    assert clerk.fingerprint == fingerprint("sk_test_abcdefghijkl")  # the value is untouched
    url = dev.variables.get(key="NEXT_PUBLIC_CONVEX_URL")
    assert (url.has_value, url.is_secret, url.required) == (False, False, True)
    assert dev.variables.get(key="WEBHOOK_SECRET").is_secret
    assert actions() == [
        "configvar.updated",
        "configvar.created",
        "configvar.created",
        "env.import.applied",
    ]
    # A declared-but-empty required variable is a hygiene error until its value is recorded.
    from environments.hygiene import check_environment

    assert ("required_missing", "NEXT_PUBLIC_CONVEX_URL") in {
        (f.rule, f.key) for f in check_environment(dev)
    }
    assert plan_for(dev, table).has_changes is False


def test_each_operation_needs_its_own_permission(dev):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    editor = UserFactory(username="editor")
    editor.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="environments", codename__in=["change_configvar"]
        )
    )
    var = ConfigVarFactory(environment=dev, key="A", raw="1")
    services.configvar_save(actor=editor, environment=dev, key="A", value="2")
    with pytest.raises(PermissionDenied, match="editor is not allowed to add variables"):
        services.configvar_save(actor=editor, environment=dev, key="B", value="1")
    with pytest.raises(PermissionDenied, match="editor is not allowed to delete variables"):
        services.configvar_delete(actor=editor, environment=dev, key="A")
    ConfigVarFactory(environment=dev, key="Z", raw="9")
    with pytest.raises(PermissionDenied, match="not allowed to delete variables"):
        services.env_import_apply(
            actor=editor, environment=dev, plan=plan_for(dev, "A=3\n", remove_missing=True)
        )
    assert list(dev.variables.values_list("key", "value")) == [("A", "2"), ("Z", "9")]
    assert var.pk == dev.variables.get(key="A").pk
    assert actions() == ["configvar.updated"]


def test_approval_is_all_or_nothing(users, prod, monkeypatch):
    text = "FIRST=1\nSECOND=2\nTHIRD=3\n"
    cr = services.env_import_apply(
        actor=users["operator"], environment=prod, plan=plan_for(prod, text), reason="x"
    ).change_request
    real_record = services.record
    calls = []

    def failing_record(**kwargs):
        calls.append(kwargs["action"])
        if calls.count("configvar.created") == 2:
            raise RuntimeError("disk full")
        return real_record(**kwargs)

    monkeypatch.setattr(services, "record", failing_record)
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError):
        services.changerequest_approve(actor=users["approver"], change_request=cr)
    cr.refresh_from_db()
    assert cr.status == ChangeRequestStatus.PENDING and cr.decided_by is None
    assert not prod.variables.exists()
    assert AuditEvent.objects.count() == before
    monkeypatch.setattr(services, "record", real_record)
    services.changerequest_approve(actor=users["approver"], change_request=cr)
    assert prod.variables.count() == 3
