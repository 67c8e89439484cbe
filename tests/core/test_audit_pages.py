"""Audit log pages, filters, export escaping and secret masking."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from opsportal.audit.forms import ACTIONS_CACHE_KEY
from opsportal.audit.masking import MASK, fingerprint, masked_hint, scrub
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import record
from opsportal.exports import FORMULA_PREFIXES, escape_formula
from tests.factories import EnvironmentFactory


def _record(**kwargs):
    with transaction.atomic():
        return record(**kwargs)


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.mark.django_db
def test_filters_by_operator_action_tier_target_and_dates(client_for, user_factory):
    client, viewer = client_for("viewer")
    alice, bob = (
        user_factory("operator", username="alice"),
        user_factory("operator", username="bob"),
    )
    prod = EnvironmentFactory(tier="production", name="prod")
    dev = EnvironmentFactory(tier="development", name="dev")
    _record(actor=alice, action="configvar.updated", target_repr="STRIPE_KEY", environment=prod)
    _record(actor=bob, action="configvar.updated", target_repr="CONVEX_URL", environment=dev)
    _record(actor=bob, action="runbook.step.signed_off", target_repr="Smoke tests")

    def seen(**params) -> set[str]:
        response = client.get(reverse("audit:event_list"), params)
        assert response.status_code == 200
        return {e.target_repr for e in response.context["events"] if e.actor_id != viewer.pk}

    assert seen(operator="alice") == {"STRIPE_KEY"}
    assert seen(action="configvar.") == {"STRIPE_KEY", "CONVEX_URL"}
    assert seen(tier="production") == {"STRIPE_KEY"}
    assert seen(target="smoke") == {"Smoke tests"}
    today = timezone.localdate()
    assert seen(date_from=today.isoformat(), date_to=today.isoformat()) == {
        "STRIPE_KEY",
        "CONVEX_URL",
        "Smoke tests",
    }
    assert seen(date_from=(today + timedelta(days=1)).isoformat()) == set()
    response = client.get(
        reverse("audit:event_list"), {"date_from": "2026-02-02", "date_to": "2026-02-01"}
    )
    assert "The end date is before the start date." in response.content.decode()


@pytest.mark.django_db
def test_list_query_count_is_bounded(client_for, django_assert_max_num_queries):
    client, _ = client_for("viewer")
    for i in range(60):
        _record(actor=None, action="test.event", target_repr=f"t{i}")
    # 12, one for the project and environment filters' choices, and one for the action
    # picker's list of known actions (cached a few minutes after)
    cache.delete(ACTIONS_CACHE_KEY)
    with django_assert_max_num_queries(14):
        response = client.get(reverse("audit:event_list"))
    assert len(response.context["events"]) == 50


@pytest.mark.django_db
def test_keyset_pages_walk_older_and_back_newer(client_for):
    client, _ = client_for("viewer")  # its login is event 1
    for i in range(119):
        _record(actor=None, action="test.event", target_repr=f"t{i}")
    url = reverse("audit:event_list")

    first = client.get(url, {"action": "test."})
    seqs = [e.seq for e in first.context["events"]]
    assert len(seqs) == 50 and seqs == sorted(seqs, reverse=True)
    page = first.context["page"]
    assert page.count == 119 and not page.count_capped
    assert page.newer_query is None and "before=" in page.older_query
    assert "action=test." in page.older_query

    second = client.get(f"{url}?{page.older_query}")
    second_seqs = [e.seq for e in second.context["events"]]
    assert second_seqs[0] == seqs[-1] - 1 and len(second_seqs) == 50

    third = client.get(f"{url}?{second.context['page'].older_query}")
    assert len(third.context["events"]) == 19
    assert third.context["page"].older_query is None

    back = client.get(f"{url}?{third.context['page'].newer_query}")
    assert [e.seq for e in back.context["events"]] == second_seqs
    assert 'rel="next"' in back.content.decode()


@pytest.mark.django_db
def test_operator_timeline_shows_only_that_operator(client_for, user_factory):
    client, _ = client_for("viewer")
    alice, bob = (
        user_factory("operator", username="alice"),
        user_factory("operator", username="bob"),
    )
    _record(actor=alice, action="a.one", target_repr="mine")
    _record(actor=bob, action="b.one", target_repr="theirs")
    response = client.get(reverse("audit:operator_timeline", args=["alice"]))
    body = response.content.decode()
    assert "mine" in body and "theirs" not in body


@pytest.mark.django_db
def test_target_filter_finds_names_with_a_dot_as_well_as_types(client_for, user_factory):
    client, viewer = client_for("viewer")
    alice = user_factory("operator", username="alice")
    env = EnvironmentFactory(project__name="makalah.ai", project__slug="makalah-ai", name="prod")
    _record(actor=alice, action="environment.updated", target=env, environment=env)
    _record(actor=alice, action="runbook.step.signed_off", target_repr="Smoke tests")

    def seen(target: str) -> set[str]:
        response = client.get(reverse("audit:event_list"), {"target": target})
        assert response.status_code == 200
        return {e.action for e in response.context["events"] if e.actor_id != viewer.pk}

    assert seen("makalah.ai") == {"environment.updated"}
    assert seen("Makalah.AI") == {"environment.updated"}
    assert seen("environments.environment") == {"environment.updated"}
    assert seen("environments.configvar") == set()
    export = client.get(reverse("audit:export_csv"), {"target": "makalah.ai"})
    assert "environment.updated" in _body(export)


@pytest.mark.django_db
def test_work_done_on_behalf_of_an_operator_links_to_their_timeline(client_for, user_factory):
    client, _ = client_for("viewer")
    alice = user_factory("operator", username="alice")
    event = _record(actor=None, on_behalf_of=alice, action="runbook.check.passed", target_repr="hc")
    assert event.actor_label == "system on behalf of alice"
    timeline = reverse("audit:operator_timeline", args=["alice"])
    body = client.get(reverse("audit:event_list")).content.decode()
    assert f'href="{timeline}"' in body
    assert "/audit/operators/system" not in body
    response = client.get(timeline)
    assert response.status_code == 200
    assert "runbook.check.passed" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_csv_and_json_exports_escape_formula_cells(client_for, prefix):
    client, _ = client_for("viewer")
    dangerous = f'{prefix}HYPERLINK("http://evil")'
    _record(actor=None, action="test.event", target_repr=dangerous, message=dangerous)

    rows = list(csv.reader(io.StringIO(_body(client.get(reverse("audit:export_csv"))))))
    assert rows[0][0].startswith("# opsportal audit export; chain head #")
    header, data = rows[1], rows[2:]
    target = next(r for r in data if r[header.index("action")] == "test.event")
    assert target[header.index("target_repr")] == "'" + dangerous
    assert target[header.index("message")] == "'" + dangerous

    payload = json.loads(_body(client.get(reverse("audit:export_json"))))
    event = next(e for e in payload["events"] if e["action"] == "test.event")
    assert event["target_repr"] == "'" + dangerous
    assert payload["chain_head"]["hash"] == AuditEvent.objects.order_by("-seq").first().hash


def test_escape_formula_leaves_safe_values_alone():
    assert escape_formula("plain") == "plain"
    assert escape_formula(42) == 42
    assert escape_formula("a=b") == "a=b"
    for prefix in FORMULA_PREFIXES:
        assert escape_formula(prefix + "1") == "'" + prefix + "1"


def test_scrub_masks_secret_names_and_credential_shapes(settings):
    stripe = "sk_live_" + "a1B2c3D4e5F6g7H8"
    changes = {
        "key": "STRIPE_SECRET_KEY",
        "value": stripe,
        "password": "hunter2-hunter2",
        "note": f"rotated to {stripe} via redis://default:pa55word@host:6379",
        "nested": {"api_key": "abc123abc123"},
        "author": "alice",
    }
    clean = scrub(changes, secret_keys=frozenset({"value"}))
    text = json.dumps(clean)
    for secret in (stripe, "hunter2-hunter2", "pa55word", "abc123abc123"):
        assert secret not in text
    assert clean["key"] == "STRIPE_SECRET_KEY"
    assert clean["author"] == "alice"
    assert clean["value"] == f"{MASK} fp:{fingerprint(stripe)[:16]}"
    assert "redis://default:***@host:6379" in clean["note"]


def test_fingerprint_is_keyed_and_hint_short(settings):
    value = "whsec_" + "Z" * 30
    first = fingerprint(value)
    settings.FINGERPRINT_KEY = "another-key"
    assert fingerprint(value) != first
    assert masked_hint(value) == "…ZZZZ"
    assert masked_hint("short") == ""


@pytest.mark.django_db
@pytest.mark.parametrize("cap", [1000, 10], ids=["keys-in-memory", "seek-on-index"])
def test_both_paging_paths_walk_every_match_once_each_way(client_for, monkeypatch, cap):
    from opsportal.pagination import KeysetPaginationMixin

    monkeypatch.setattr(KeysetPaginationMixin, "count_cap", cap)
    client, _ = client_for("viewer")
    for i in range(130):  # matches interleaved with events the filter leaves out
        _record(actor=None, action="test.match" if i % 3 else "other.event", target_repr=f"t{i}")
    expected = list(
        AuditEvent.objects.filter(action="test.match")
        .order_by("-seq")
        .values_list("seq", flat=True)
    )
    url = reverse("audit:event_list")
    pages, query = [], "action=test.match"
    while query:
        page = client.get(f"{url}?{query}").context["page"]
        pages.append([e.seq for e in page.items])
        query = page.older_query
    assert [s for p in pages for s in p] == expected
    assert [len(p) for p in pages] == [50, 36]
    assert page.count == min(len(expected), cap) and page.count_capped == (len(expected) > cap)
    back = client.get(f"{url}?{page.newer_query}").context["page"]
    assert [e.seq for e in back.items] == pages[0] and back.newer_query is None


@pytest.mark.django_db
def test_secrets_never_reach_the_audit_row_or_pages(client_for):
    client, _ = client_for("viewer")
    sentinel = "sk_test_" + "SENTINEL0123456789"
    event = _record(
        actor=None,
        action="configvar.updated",
        target_repr="STRIPE_SECRET_KEY",
        changes={"value": {"before": None, "after": sentinel}},
        secret_keys={"value"},
        message=f"pasted {sentinel}",
    )
    stored = AuditEvent.objects.filter(pk=event.pk).values().get()
    assert sentinel not in json.dumps(stored, default=str)
    for url in (
        reverse("audit:event_list"),
        reverse("audit:event_detail", args=[event.seq]),
        reverse("audit:export_json"),
        reverse("audit:export_csv"),
    ):
        response = client.get(url)
        body = _body(response) if response.streaming else response.content.decode()
        assert sentinel not in body


@pytest.mark.django_db
def test_work_done_on_behalf_of_an_operator_links_to_that_operator(client_for, user_factory):
    client, _ = client_for("viewer")
    olga = user_factory("operator", username="olga")
    _record(actor=None, on_behalf_of=olga, action="runbook.check.passed", target_repr="HTTP 200")
    page = client.get(reverse("audit:event_list")).content.decode()
    assert "system on behalf of olga" in page
    assert reverse("audit:operator_timeline", args=["olga"]) in page
    timeline = client.get(reverse("audit:operator_timeline", args=["olga"])).content.decode()
    assert "HTTP 200" in timeline


@pytest.mark.django_db
def test_export_reads_in_chunks_and_stops_at_the_head_it_names(client_for, monkeypatch):
    from opsportal.audit import views

    monkeypatch.setattr(views, "EXPORT_CHUNK", 7)
    client, viewer = client_for("viewer")
    for i in range(20):
        _record(actor=viewer, action="test.exported", target_repr=f"row {i}")
    response = client.get(reverse("audit:export_csv"), {"action": "test.exported"})
    stream = iter(response.streaming_content)
    head_line = next(stream).decode()
    # an event appended while the export streams is after the head the file names
    _record(actor=viewer, action="test.exported", target_repr="late")
    rows = list(csv.reader(io.StringIO(head_line + b"".join(stream).decode())))
    seq = rows[1].index("seq")
    targets = [r[rows[1].index("target_repr")] for r in rows[2:]]
    assert targets == [f"row {i}" for i in range(20)]  # all, once, in order, across 3 chunks
    seqs = [int(r[seq]) for r in rows[2:]]
    assert seqs == sorted(seqs)
    assert f"chain head #{max(seqs)}" in rows[0][0]


def test_event_rows_render_as_the_template_did_escaped_and_linked(user_factory):
    """The event table's rows are built in Python (audit_tags.event_rows): every value escaped,
    the operator's timeline and the event linked, a long target and reason cut at 60."""
    from django.db import transaction
    from django.template.loader import render_to_string

    from opsportal.audit.services import record

    user = user_factory("operator", username="o'neil+ops@x")
    with transaction.atomic():
        event = record(
            actor=user,
            action="configvar.updated",
            target_type="environments.configvar",
            target_id="7",
            target_repr="<b>shop</b> / prod / " + "K" * 80,
            tier="production",
            message="because <script>alert(1)</script> " + "x" * 80,
        )
    html = render_to_string("includes/event_table.html", {"events": [event]})
    assert f'<a href="/audit/events/{event.seq}/">{event.seq}</a>' in html
    assert "/audit/operators/o&#x27;neil+ops@x/" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>shop</b>" not in html and "&lt;b&gt;shop&lt;/b&gt;" in html
    assert "K" * 80 not in html and "…" in html
    assert '<span class="badge tier-production">Production</span>' in html
    assert "No events." in render_to_string("includes/event_table.html", {"events": []})
