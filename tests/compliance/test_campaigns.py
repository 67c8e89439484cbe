"""Rotation campaigns: selection, progress from imports and edits, waivers, reports, findings."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from compliance import report, services
from compliance.choices import ItemState, Scope
from compliance.models import RotationCampaign
from compliance.selection import readable_by
from environments import services as env_services
from opsportal.audit.models import AuditEvent
from tests.environments.factories import ConfigVarFactory

pytestmark = pytest.mark.django_db

DUE = timezone.localdate() + timedelta(days=7)


def start(actor, **kw):
    kw.setdefault("owner", actor)
    kw.setdefault("due_date", DUE)
    return services.rotation_campaign_create(actor=actor, **kw)


def progress(campaign):
    return RotationCampaign.objects.with_progress().values_list("done", "total").get(pk=campaign.pk)


def states(campaign):
    return {r.item.key: r.state for r in report.item_rows(campaign)}


def test_campaign_over_an_environment_snapshots_fingerprints_and_is_audited(
    users, dev, secrets_dev
):
    op = users["operator"]
    campaign = start(op, scope=Scope.ENVIRONMENT, environment=dev, reason="laptop lost")
    items = {i.key: i for i in campaign.items.all()}
    # secrets only: the public URL has nothing to rotate
    assert set(items) == {"STRIPE_SECRET_KEY", "CLERK_SECRET_KEY", "SESSION_SECRET"}
    assert items["SESSION_SECRET"].start_fingerprint == secrets_dev["SESSION_SECRET"].fingerprint
    assert progress(campaign) == (0, 3)
    event = AuditEvent.objects.get(action="rotation.campaign.created")
    assert event.actor == op and event.target_id == str(campaign.pk)
    assert event.changes["variables"] == 3 and event.changes["scope"] == str(dev)
    assert event.message == "laptop lost"


def test_campaign_completes_from_an_edit_an_import_and_a_waiver(users, dev, secrets_dev):
    op, approver = users["operator"], users["approver"]
    campaign = start(op, scope=Scope.ENVIRONMENT, environment=dev)
    # an edit through the environments service
    env_services.configvar_save(
        actor=op, environment=dev, key="STRIPE_SECRET_KEY", value="sk_test_" + "Zz99" * 6
    )
    assert progress(campaign) == (1, 3)
    # an import through the environments service, by someone else
    plan = env_services.import_plan(
        environment=dev, text="CLERK_SECRET_KEY=sk_test_" + "Qq77" * 8 + "\n"
    )
    env_services.env_import_apply(actor=approver, environment=dev, plan=plan)
    assert progress(campaign) == (2, 3)
    # an import with the same value changes nothing
    assert states(campaign)["SESSION_SECRET"] == ItemState.OLD
    item = campaign.items.get(key="SESSION_SECRET")
    services.rotation_item_waive(actor=op, item=item, reason="rotated with the next deploy")
    assert progress(campaign) == (3, 3)
    waived = AuditEvent.objects.get(action="rotation.item.waived")
    assert waived.actor == op and waived.message == "rotated with the next deploy"
    assert waived.environment_id == dev.pk

    rows = {r.item.key: r for r in report.item_rows(campaign)}
    assert rows["STRIPE_SECRET_KEY"].state == ItemState.ROTATED
    assert rows["STRIPE_SECRET_KEY"].by == op.username
    assert rows["STRIPE_SECRET_KEY"].action == "configvar.updated"
    assert rows["CLERK_SECRET_KEY"].by == approver.username
    assert rows["SESSION_SECRET"].state == ItemState.WAIVED

    md = report.campaign_markdown(campaign)
    assert "3/3 (100 %): 2 rotated, 1 waived, 0 removed, 0 still old" in md
    assert "`STRIPE_SECRET_KEY` | " in md and op.username in md and approver.username in md
    assert "## Still old (0)" in md
    assert "rotated with the next deploy" in md

    services.rotation_campaign_close(actor=op, campaign=campaign)
    closed = AuditEvent.objects.get(action="rotation.campaign.closed")
    assert closed.changes == {"total": 3, "rotated": 2, "waived": 1, "removed": 0, "old": 0}


def test_rotation_through_a_change_request_counts_for_the_approver(users, prod):
    op, approver = users["operator"], users["approver"]
    var = ConfigVarFactory(environment=prod, key="STRIPE_SECRET_KEY", raw="sk_live_" + "L1v3" * 6)
    campaign = start(op, scope=Scope.ENVIRONMENT, environment=prod)
    result = env_services.configvar_rotate(
        actor=op, configvar=var, new_value="sk_live_" + "N3w0" * 6, reason="campaign"
    )
    assert not result.applied  # production: a change request
    assert progress(campaign) == (0, 1)
    env_services.changerequest_approve(actor=approver, change_request=result.change_request)
    assert progress(campaign) == (1, 1)
    row = report.item_rows(campaign)[0]
    assert (row.state, row.by, row.action) == (
        ItemState.ROTATED,
        approver.username,
        "configvar.rotated",
    )


def test_still_old_is_reported_and_closing_needs_a_note(users, dev, secrets_dev):
    op = users["operator"]
    campaign = start(op, scope=Scope.ENVIRONMENT, environment=dev)
    md = report.campaign_markdown(campaign)
    assert "## Still old (3)" in md
    with pytest.raises(ValidationError, match="still hold their old value"):
        services.rotation_campaign_close(actor=op, campaign=campaign)
    assert not AuditEvent.objects.filter(action="rotation.campaign.closed").exists()
    services.rotation_campaign_close(actor=op, campaign=campaign, note="abandoned: env retired")
    campaign.refresh_from_db()
    assert campaign.status == "closed" and campaign.closed_by == op
    assert AuditEvent.objects.get(action="rotation.campaign.closed").changes["old"] == 3
    with pytest.raises(ValidationError, match="closed"):
        services.rotation_item_waive(actor=op, item=campaign.items.first(), reason="x")


def test_waive_needs_a_reason_and_an_old_value(users, dev, secrets_dev):
    op = users["operator"]
    campaign = start(op, scope=Scope.ENVIRONMENT, environment=dev)
    item = campaign.items.get(key="STRIPE_SECRET_KEY")
    with pytest.raises(ValidationError):
        services.rotation_item_waive(actor=op, item=item, reason="  ")
    env_services.configvar_save(
        actor=op, environment=dev, key="STRIPE_SECRET_KEY", value="sk_test_" + "Yy88" * 6
    )
    with pytest.raises(ValidationError, match="nothing to waive"):
        services.rotation_item_waive(actor=op, item=item, reason="not needed")
    assert not AuditEvent.objects.filter(action="rotation.item.waived").exists()


def test_deleted_variable_counts_as_removed(users, dev, secrets_dev):
    op = users["operator"]
    campaign = start(op, scope=Scope.ENVIRONMENT, environment=dev)
    env_services.configvar_delete(actor=op, environment=dev, key="SESSION_SECRET")
    assert states(campaign)["SESSION_SECRET"] == ItemState.REMOVED
    assert progress(campaign) == (1, 3)


def test_selection_by_kind_family_and_project(users, dev, prod, secrets_dev):
    op = users["operator"]
    ConfigVarFactory(environment=prod, key="STRIPE_SECRET_KEY", raw="sk_live_" + "L1v3" * 6)
    stripe = start(op, scope=Scope.KIND, kind="family:stripe")
    assert sorted(str(i) for i in stripe.items.all()) == [
        f"{dev} / STRIPE_SECRET_KEY",
        f"{prod} / STRIPE_SECRET_KEY",
    ]
    assert "All Stripe keys" in stripe.scope_label
    one_kind = start(op, scope=Scope.KIND, kind="stripe_secret_live")
    assert [i.environment_id for i in one_kind.items.all()] == [prod.pk]
    whole = start(op, scope=Scope.PROJECT, project=dev.project)
    assert whole.items.count() == 4
    with pytest.raises(ValidationError):
        start(op, scope=Scope.KIND, kind="nonsense")


def test_readable_by_role_trail_and_authorship(users, user_factory, dev, prod, secrets_dev):
    op = users["operator"]
    prod_var = ConfigVarFactory(environment=prod, key="API_TOKEN", raw="tok_" + "Abc123" * 5)
    # a viewer's role reads every inventory
    qs, why = readable_by(users["viewer"])
    assert why.by_role and qs.count() == 4
    # someone without a role any more: only what the trail shows
    leaver = user_factory(None)
    qs, why = readable_by(leaver)
    assert not why.by_role and qs.count() == 0
    env_services.configvar_save(
        actor=op, environment=dev, key="SESSION_SECRET", value="n3wS3cretValueF0rS3ssion1"
    )
    # the operator entered the session secret; a former operator (role revoked) keeps the trail
    op.groups.clear()
    op = type(op).objects.get(pk=op.pk)
    qs, why = readable_by(op)
    assert not why.by_role
    assert dev.pk in why.environments
    assert set(qs.values_list("environment_id", flat=True)) == {dev.pk}
    assert prod_var.pk not in qs.values_list("pk", flat=True)
    campaign = start(users["admin"], scope=Scope.READABLE_BY, user=op)
    assert campaign.items.count() == 3
    event = AuditEvent.objects.get(action="rotation.campaign.created")
    assert event.changes["selection"]["environments_by_trail"] == [dev.pk]


def test_permissions(users, dev, secrets_dev, client_for):
    with pytest.raises(PermissionDenied):
        start(users["viewer"], scope=Scope.ENVIRONMENT, environment=dev)
    campaign = start(users["operator"], scope=Scope.ENVIRONMENT, environment=dev)
    item = campaign.items.first()
    with pytest.raises(PermissionDenied):
        services.rotation_item_waive(actor=users["viewer"], item=item, reason="no")
    with pytest.raises(PermissionDenied):
        services.rotation_campaign_close(actor=users["viewer"], campaign=campaign, note="no")
    viewer, _ = client_for("viewer")
    assert viewer.get(campaign.get_absolute_url()).status_code == 200
    assert viewer.get(reverse("compliance:campaign_create")).status_code == 403
    url = reverse("compliance:item_waive", args=[campaign.pk, item.pk])
    assert viewer.post(url, {"reason": "no"}).status_code == 403
    assert AuditEvent.objects.filter(action__startswith="rotation.").count() == 1
    nobody, _ = client_for(None)
    assert nobody.get(campaign.get_absolute_url()).status_code == 403


def test_pages_create_waive_close_and_export(users, dev, secrets_dev, client_for):
    client, op = client_for("operator")
    response = client.post(
        reverse("compliance:campaign_create"),
        {
            "scope": "environment",
            "environment": dev.pk,
            "owner": op.pk,
            "due_date": DUE.isoformat(),
            "title": "",
        },
    )
    campaign = RotationCampaign.objects.get()
    assert response.status_code == 302 and response["Location"] == campaign.get_absolute_url()
    page = client.get(campaign.get_absolute_url())
    assert b"0/3 done" in page.content
    item = campaign.items.get(key="SESSION_SECRET")
    client.post(
        reverse("compliance:item_waive", args=[campaign.pk, item.pk]),
        {"reason": '=HYPERLINK("http://evil")'},
    )
    assert AuditEvent.objects.filter(action="rotation.item.waived").count() == 1
    csv_response = client.get(reverse("compliance:campaign_export", args=[campaign.pk, "csv"]))
    rows = list(csv.reader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    assert rows[0] == report.CAMPAIGN_HEADER
    waived = next(r for r in rows if r[1] == "SESSION_SECRET")
    assert waived[3] == "Waived" and waived[-1].startswith("'=")  # formula-safe
    md = client.get(reverse("compliance:campaign_export", args=[campaign.pk, "md"]))
    assert md["Content-Type"].startswith("text/markdown")
    assert b"## Still old (2)" in md.content
    assert (
        client.get(reverse("compliance:campaign_export", args=[campaign.pk, "pdf"])).status_code
        == 404
    )
    # closing with old values and no note is refused, with the reason shown
    client.post(reverse("compliance:campaign_close", args=[campaign.pk]), {"note": ""})
    campaign.refresh_from_db()
    assert campaign.is_open


def test_campaign_from_a_hygiene_finding_is_one_click(users, dev, client_for):
    client, op = client_for("operator")
    var = ConfigVarFactory(
        environment=dev,
        key="WEBHOOK_SECRET",
        raw="whsec_" + "R0t4t3Me" * 4,
        rotation_period_days=30,
        last_rotated_at=timezone.now() - timedelta(days=45),
    )
    fresh = ConfigVarFactory(environment=dev, key="OTHER_SECRET", raw="Fr35hS3cr3tV4lue9xQ2wE7r")
    page = client.get(dev.get_absolute_url())
    assert page.status_code == 200
    assert b'data-testid="start-campaign-WEBHOOK_SECRET"' in page.content
    assert b"start-campaign-OTHER_SECRET" not in page.content
    response = client.post(reverse("compliance:campaign_from_finding", args=[var.pk]))
    campaign = RotationCampaign.objects.get()
    assert response["Location"] == campaign.get_absolute_url()
    assert [i.configvar_id for i in campaign.items.all()] == [var.pk]
    assert campaign.owner == op and "rotation overdue" in campaign.title
    assert AuditEvent.objects.get(action="rotation.campaign.created").actor == op
    # the finding now links to its campaign instead of offering another
    page = client.get(dev.get_absolute_url()).content.decode()
    assert 'data-testid="start-campaign-WEBHOOK_SECRET"' not in page
    assert 'data-testid="in-campaign-WEBHOOK_SECRET"' in page
    # a variable that is not overdue is no finding: refused
    client.post(reverse("compliance:campaign_from_finding", args=[fresh.pk]))
    assert RotationCampaign.objects.count() == 1
    viewer, _ = client_for("viewer")
    assert (
        viewer.post(reverse("compliance:campaign_from_finding", args=[var.pk])).status_code == 403
    )
    # rotating it completes the campaign
    env_services.configvar_rotate(actor=op, configvar=var, new_value="whsec_" + "N3wV4lue" * 4)
    assert progress(campaign) == (1, 1)


def test_dashboard_and_waiting(users, dev, secrets_dev, client_for):
    from compliance import waiting

    client, op = client_for("operator")
    campaign = start(op, scope=Scope.ENVIRONMENT, environment=dev)
    page = client.get("/")
    assert (
        b'data-testid="compliance-panel"' in page.content
        and campaign.title.encode() in page.content
    )
    items = waiting.items(op)
    assert [i.url for i in items] == [campaign.get_absolute_url()]
    assert "3 of 3 variables still old" in items[0].detail


def test_campaign_completes_from_an_api_import(users, dev, secrets_dev):
    from django.test import Client

    from opsportal.api.services import token_create

    op = users["operator"]
    campaign = start(op, scope=Scope.ENVIRONMENT, environment=dev)
    token, raw = token_create(actor=op, user=op, name="ci", scopes=["env:import"])
    response = Client().post(
        f"/api/environments/{dev.project.slug}/{dev.name}/import",
        data={"text": "SESSION_SECRET=Api4R0t4t3dV4lueXyZ12345\n", "dry_run": False},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 200, response.content
    row = next(r for r in report.item_rows(campaign) if r.item.key == "SESSION_SECRET")
    assert (row.state, row.by) == (ItemState.ROTATED, f"{op.username} via token {token.pk} (ci)")
    assert progress(campaign) == (1, 3)


def test_create_page_prefills_and_shows_service_errors_by_field(users, dev, client_for):
    client, op = client_for("operator")
    url = reverse("compliance:campaign_create")
    page = client.get(f"{url}?scope=environment&environment={dev.pk}")
    assert page.status_code == 200
    assert page.context["form"].initial["environment"] == str(dev.pk)
    assert ("family:stripe", "All Stripe keys (stripe_*)") in page.context["form"].fields[
        "kind"
    ].choices
    # readable-by without a user: the error sits next to the user field
    response = client.post(
        url, {"scope": "readable_by", "owner": op.pk, "due_date": DUE.isoformat()}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["user"] == ["Choose the user."]
    # an environment without secrets: nothing to rotate, said on the form
    response = client.post(
        url,
        {"scope": "environment", "environment": dev.pk, "owner": op.pk, "due_date": DUE},
    )
    assert "No secret with a value to rotate" in response.content.decode()
    assert not RotationCampaign.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="rotation.").exists()


def test_a_credential_pasted_into_a_reason_is_masked(users, dev, secrets_dev):
    op = users["operator"]
    pasted = "sk_live_" + "P4st3d" * 5
    campaign = start(op, scope=Scope.ENVIRONMENT, environment=dev, reason=f"old was {pasted}")
    item = campaign.items.first()
    services.rotation_item_waive(actor=op, item=item, reason=f"kept {pasted}")
    item.refresh_from_db()
    campaign.refresh_from_db()
    assert pasted not in item.waive_reason and pasted not in campaign.reason
    assert pasted not in report.campaign_markdown(campaign)
    for event in AuditEvent.objects.filter(action__startswith="rotation."):
        assert pasted not in event.message
