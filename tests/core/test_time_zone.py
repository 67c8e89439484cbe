"""Each user sees the portal's times in their own time zone (accounts settings)."""

import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsportal.accounts.models import AccountSettings
from opsportal.accounts.services import account_settings_update
from opsportal.accounts.zones import SESSION_KEY, zone_names
from opsportal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def shown_offset(html: str) -> str:
    """The UTC offset of the first ``<time datetime=…>`` on a page."""
    match = re.search(r'<time datetime="\d{4}-\d\d-\d\dT[\d:.]+([+-]\d\d:\d\d)"', html)
    assert match, html[:2000]
    return match.group(1)


def test_a_user_chooses_a_zone_and_every_page_shows_it(client_for, settings):
    settings.TIME_ZONE = "UTC"
    client, user = client_for("viewer")
    assert shown_offset(client.get("/accounts/settings/").content.decode()) == "+00:00"

    response = client.post("/accounts/settings/", {"time_zone": "Asia/Jakarta"}, follow=True)
    assert "Saved: times are shown in Asia/Jakarta." in response.content.decode()
    assert shown_offset(client.get("/accounts/settings/").content.decode()) == "+07:00"
    # another page, rendered by another app's template, uses the same zone
    assert shown_offset(client.get(f"/audit/operators/{user.username}/").content.decode()) == (
        "+07:00"
    )

    event = AuditEvent.objects.get(action="auth.settings.changed")
    assert event.actor == user
    assert event.changes == {"time_zone": ["portal default", "Asia/Jakarta"]}
    assert AccountSettings.objects.get(user=user).time_zone == "Asia/Jakarta"

    # back to the default: UTC again, audited
    client.post("/accounts/settings/", {"time_zone": ""})
    assert shown_offset(client.get("/accounts/settings/").content.decode()) == "+00:00"
    assert AuditEvent.objects.filter(action="auth.settings.changed").count() == 2


def test_other_users_keep_their_own_zone(client_for, settings):
    settings.TIME_ZONE = "UTC"
    jayapura, _ = client_for("operator")
    other, _ = client_for("operator")
    jayapura.post("/accounts/settings/", {"time_zone": "Asia/Jayapura"})
    assert shown_offset(jayapura.get("/accounts/settings/").content.decode()) == "+09:00"
    assert shown_offset(other.get("/accounts/settings/").content.decode()) == "+00:00"


def test_the_zone_is_read_at_sign_in_and_pages_pay_no_query_for_it(user_factory, client):
    user = user_factory("viewer")
    account_settings_update(actor=user, user=user, time_zone="America/Sao_Paulo")
    client.force_login(user)
    assert client.session[SESSION_KEY] == "America/Sao_Paulo"
    with CaptureQueriesContext(connection) as queries:
        assert shown_offset(client.get(f"/audit/operators/{user.username}/").content.decode()) == (
            "-03:00"
        )
    assert not [q for q in queries if "accounts_accountsettings" in q["sql"]]


def test_an_unknown_zone_is_refused_onto_the_form_keeping_nothing(client_for):
    client, user = client_for("viewer")
    response = client.post("/accounts/settings/", {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    with pytest.raises(ValidationError) as exc:
        account_settings_update(actor=user, user=user, time_zone="Europe/Atlantis")
    assert "Unknown time zone" in str(exc.value)
    assert not AccountSettings.objects.filter(time_zone__startswith="Europe/Atl").exists()
    assert not AuditEvent.objects.filter(action="auth.settings.changed").exists()


def test_only_an_admin_changes_someone_elses_zone(user_factory):
    viewer, other, admin = user_factory("viewer"), user_factory("viewer"), user_factory("admin")
    with pytest.raises(PermissionDenied):
        account_settings_update(actor=viewer, user=other, time_zone="Asia/Tokyo")
    account_settings_update(actor=admin, user=other, time_zone="Asia/Tokyo")
    event = AuditEvent.objects.get(action="auth.settings.changed")
    assert (event.actor, event.target_id) == (admin, str(other.pk))


def test_saving_the_same_zone_again_records_nothing(user_factory):
    user = user_factory("viewer")
    account_settings_update(actor=user, user=user, time_zone="Asia/Makassar")
    account_settings_update(actor=user, user=user, time_zone="Asia/Makassar")
    assert AuditEvent.objects.filter(action="auth.settings.changed").count() == 1


def test_a_zone_gone_from_the_machine_falls_back_to_the_portal_default(client_for, settings):
    settings.TIME_ZONE = "UTC"
    client, user = client_for("viewer")
    AccountSettings.objects.create(user=user, time_zone="Nowhere/Gone")
    assert shown_offset(client.get("/accounts/settings/").content.decode()) == "+00:00"


def test_zone_list_has_the_names_people_pick_and_not_the_misleading_ones():
    names = zone_names()
    assert {"Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura", "Europe/Lisbon", "UTC"} <= set(names)
    assert not [name for name in names if name.startswith("Etc/")]


def test_a_session_from_before_the_setting_existed_reads_it_once(user_factory, client):
    user = user_factory("viewer")
    account_settings_update(actor=user, user=user, time_zone="Asia/Makassar")
    client.force_login(user)
    session = client.session
    del session[SESSION_KEY]  # as a session signed in before this version has it
    session.save()
    assert shown_offset(client.get("/accounts/settings/").content.decode()) == "+08:00"
    assert client.session[SESSION_KEY] == "Asia/Makassar"
