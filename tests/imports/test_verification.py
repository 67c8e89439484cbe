"""Sample verification: the seeded sample, each member's source rows and stored data against a
real import, marks (a wrong one raises a review item), the signed report and its exports, the
``import_sample`` command, the runbook check and permissions."""

import csv
import io
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from imports import services, verification
from imports.checks import sample_status
from imports.choices import ReviewKind, ReviewStatus, SampleMark, VerificationStatus
from imports.models import Member, Order, ReviewItem, SampleVerification
from opsportal.audit.models import AuditEvent

from .factories import CLEAN, apply_file, committed

pytestmark = pytest.mark.django_db

FILES = ("products.csv", "users.csv", "orders.csv", "commissions.csv", "subscriptions.csv")


@pytest.fixture
def jobs(user_factory):
    op = user_factory("operator")
    return {name: apply_file(op, CLEAN / name) for name in FILES}


def file_rows(name: str) -> list[dict]:
    """The fixture's data rows as csv reads them (row 1 = the first data row)."""
    return list(csv.DictReader(io.StringIO((CLEAN / name).read_text())))


def test_same_seed_same_members_across_sizes_other_seed_other_members(jobs):
    ids = [jobs["users.csv"].pk, jobs["orders.csv"].pk]
    everyone = set(verification.member_ids(ids))
    assert len(everyone) == Member.objects.count() == 60
    first = verification.sample_ids(ids, size=20, seed=42)
    assert len(first) == len(set(first)) == 20 and set(first) <= everyone
    assert verification.sample_ids(ids, size=20, seed=42) == first
    # a larger sample with the same seed extends the smaller one; a smaller one is its start
    assert verification.sample_ids(ids, size=35, seed=42)[:20] == first
    assert verification.sample_ids(ids, size=5, seed=42) == first[:5]
    assert verification.sample_ids(ids, size=20, seed=43) != first
    assert set(verification.sample_ids(ids, size=20, seed=43)) != set(first)
    # asking for more than there are: every member, once
    assert sorted(verification.sample_ids(ids, size=100, seed=1)) == sorted(everyone)
    # the order of the jobs named does not matter
    assert verification.sample_ids(ids[::-1], size=20, seed=42) == first


def test_members_of_one_job_only(jobs):
    subs = jobs["subscriptions.csv"]
    members = set(verification.member_ids([subs.pk]))
    assert members == set(Member.objects.filter(memberships__job=subs).values_list("pk", flat=True))
    assert 0 < len(members) < 60


def test_sources_and_stored_match_the_files_and_tables(jobs):
    members = verification.sample([jobs["users.csv"].pk], size=60, seed=7)
    assert len(members) == 60
    users = file_rows("users.csv")
    orders = file_rows("orders.csv")
    subs = file_rows("subscriptions.csv")
    for m in members:
        member = Member.objects.get(pk=m["member"]["id"])
        assert m["member"]["email"] == member.email
        by_file: dict[str, list] = {}
        for s in m["sources"]:
            by_file.setdefault(s["file"], []).append(s)
        # every users.csv row of the member's accounts, at its row number, cells as written
        uids = set(member.accounts.values_list("user_id", flat=True))
        expected = [
            (n, row)
            for n, row in enumerate(users, start=1)
            if int(row["User ID"]) in uids or row["email"].strip().lower() == member.email
        ]
        got = [(s["row"], s["values"]) for s in by_file["users.csv"]]
        assert got == expected
        assert list(got[0][1]) == list(users[0])  # the file's column order
        # its orders' rows, and its subscriptions' rows
        invs = set(member.orders.values_list("inv", flat=True))
        assert [s["row"] for s in by_file.get("orders.csv", [])] == [
            n for n, row in enumerate(orders, start=1) if row["INV"] in invs
        ]
        for s in by_file.get("orders.csv", []):
            assert s["values"] == orders[s["row"] - 1]
        assert [s["row"] for s in by_file.get("subscriptions.csv", [])] == [
            n for n, row in enumerate(subs, start=1) if row["INV"] in invs
        ]
        # the stored view: the member's orders (with their commission) and memberships
        stored = m["stored"]
        assert sorted(o["inv"] for o in stored["orders"]) == sorted(invs)
        for o in stored["orders"]:
            order = Order.objects.get(inv=o["inv"])
            assert o["total"] == str(order.total) and o["status"] == order.status
            comm = getattr(order, "commission", None)
            assert (o["commission"] or {}).get("amount") == (
                str(comm.amount) if comm and comm.amount is not None else None
            )
        assert sorted(ms["ref"] for ms in stored["memberships"]) == sorted(
            member.memberships.values_list("ref", flat=True)
        )
        assert sorted(a["user_id"] for a in stored["accounts"]) == sorted(uids)
    # an affiliate's commissions file row and earned commissions are there too
    affiliates = [m for m in members if m["stored"]["affiliate"]]
    assert affiliates
    for m in affiliates:
        uids = {a["sejoli_user_id"] for a in m["stored"]["affiliate"]}
        rows = [s for s in m["sources"] if s["file"] == "commissions.csv"]
        assert {int(s["values"]["user_id"]) for s in rows} <= uids
    assert any(m["stored"]["commissions"] for m in affiliates)


def test_a_purged_file_is_named_not_read(jobs):
    users = jobs["users.csv"]
    users.file.delete(save=True)
    members = verification.sample([users.pk], size=3, seed=1)
    for m in members:
        gone = [s for s in m["sources"] if s["file"] == "users.csv"]
        assert gone and gone[0]["row"] is None and "purged" in gone[0]["missing"]


def test_only_completed_jobs_can_be_sampled(jobs, user_factory):
    op = user_factory("operator")
    with pytest.raises(ValidationError, match="does not exist"):
        services.verification_start(actor=op, jobs=[999999])
    job = jobs["users.csv"]
    job.status = "rolled_back"
    job.save(update_fields=["status"])
    with pytest.raises(ValidationError, match="only completed imports"):
        services.verification_start(actor=op, jobs=[job])
    with pytest.raises(ValidationError):
        services.verification_start(actor=op, jobs=[jobs["orders.csv"]], size=0)


def start(user, jobs, size=5, seed=2026):
    """Start a verification and run its draw (the imports worker's task: inline in tests)."""
    with committed():
        ver = services.verification_start(
            actor=user, jobs=[jobs["users.csv"], jobs["orders.csv"]], size=size, seed=seed
        )
    ver.refresh_from_db()
    assert ver.status == VerificationStatus.OPEN
    return ver


def test_start_mark_correct_and_wrong_complete_signed_report(jobs, user_factory):
    op = user_factory("operator")
    ver = start(op, jobs)
    items = list(ver.items.order_by("position"))
    assert [i.member_id for i in items] == verification.sample_ids(
        [jobs["users.csv"].pk, jobs["orders.csv"].pk], size=5, seed=2026
    )
    assert all(i.sources and i.stored["member"]["id"] == i.member_id for i in items)
    started = AuditEvent.objects.get(action="import.verification.started")
    assert started.actor == op and started.target_id == str(ver.pk)
    assert started.changes["seed"] == 2026 and started.changes["size"] == 5
    assert started.changes["status"] == "drawing"
    assert started.job_id == jobs["users.csv"].pk
    drawn = AuditEvent.objects.get(action="import.verification.drawn")
    assert drawn.changes["members"] == 5 and drawn.changes["status"] == ["drawing", "open"]
    assert drawn.actor == op and "on behalf of" in drawn.actor_label  # the worker, for op
    assert drawn.target_id == str(ver.pk) and drawn.seq > started.seq

    services.verification_item_mark(actor=op, item=items[0], mark=SampleMark.CORRECT)
    marked = AuditEvent.objects.get(action="import.verification.marked_correct")
    assert marked.actor == op and marked.changes["mark"] == ["pending", "correct"]

    with pytest.raises(ValidationError, match="note"):
        services.verification_item_mark(actor=op, item=items[1], mark=SampleMark.WRONG)
    item = services.verification_item_mark(
        actor=op, item=items[1], mark=SampleMark.WRONG, note="phone differs from users.csv"
    )
    review = ReviewItem.objects.get(kind=ReviewKind.SAMPLE_WRONG)
    assert item.review_item == review and review.status == ReviewStatus.OPEN
    assert review.details["member"] == items[1].member_id and review.member_id is None
    assert "phone differs from users.csv" in review.summary
    wrong = AuditEvent.objects.get(action="import.verification.marked_wrong")
    assert wrong.message == "phone differs from users.csv" and wrong.actor == op
    raised = AuditEvent.objects.get(action="import.review.raised")
    assert raised.target_id == str(review.pk) and raised.actor == op
    # the review queue decides it (approvers), like every review item
    approver = user_factory("approver")
    services.review_decide(actor=approver, item=review, decision="verified", note="fixed")
    assert AuditEvent.objects.filter(action="import.review.verified").exists()
    # a wrong mark stays wrong
    with pytest.raises(ValidationError, match="already marked wrong"):
        services.verification_item_mark(actor=op, item=items[1], mark=SampleMark.CORRECT)
    # a correct mark can still change while the verification is open
    services.verification_item_mark(actor=op, item=items[0], mark=SampleMark.CORRECT)

    with pytest.raises(ValidationError, match="3 sampled members are not marked"):
        services.verification_complete(actor=op, verification=ver)
    for i in items[2:]:
        services.verification_item_mark(actor=op, item=i, mark=SampleMark.CORRECT, note="ok")
    ver = services.verification_complete(actor=op, verification=ver)
    ver.refresh_from_db()
    assert ver.status == VerificationStatus.COMPLETED and ver.completed_by == op
    assert (ver.correct_count, ver.wrong_count) == (4, 1)
    report = ver.report
    assert report["seed"] == 2026 and report["completed_by"] == op.username
    assert report["results"] == {"members": 5, "correct": 4, "wrong": 1}
    assert [i["mark"] for i in report["items"]] == ["correct", "wrong", *["correct"] * 3]
    assert ver.content_hash == verification.content_hash(report)
    assert ver.signature and ver.key_id  # the portal's Ed25519 key
    assert verification.signature_ok(ver)
    done = AuditEvent.objects.get(action="import.verification.completed")
    assert done.changes["content_hash"] == ver.content_hash and done.actor == op
    # tampering with the stored report breaks its hash
    SampleVerification.objects.filter(pk=ver.pk).update(
        report={**report, "results": {"members": 5, "correct": 5, "wrong": 0}}
    )
    ver.refresh_from_db()
    assert not verification.signature_ok(ver)
    # completed is final
    with pytest.raises(ValidationError, match="completed"):
        services.verification_item_mark(actor=op, item=items[2], mark=SampleMark.CORRECT)


def test_report_exports(jobs, user_factory):
    op = user_factory("operator")
    ver = start(op, jobs, size=2, seed=5)
    first, second = ver.items.order_by("position")
    services.verification_item_mark(actor=op, item=first, mark="correct")
    services.verification_item_mark(actor=op, item=second, mark="wrong", note="=cmd|' /C calc'")
    ver = services.verification_complete(actor=op, verification=ver)
    md = verification.report_markdown(ver)
    assert "Seed: 5" in md and ver.content_hash in md and ver.signature in md
    assert f"| 1 | {first.member_label} | correct |" in md
    rows = list(csv.reader(io.StringIO(verification.report_csv(ver))))
    assert rows[0] == ["position", "member", "mark", "note", "marked_by", "marked_at"]
    assert rows[2][3] == "'=cmd|' /C calc'"  # formula escaped
    assert ["#", "content_hash", ver.content_hash] in rows
    assert ["#", "seed", "5"] in rows


def test_viewer_cannot_start_or_mark(jobs, user_factory):
    viewer = user_factory("viewer")
    with pytest.raises(PermissionDenied):
        start(viewer, jobs)
    ver = start(user_factory("operator"), jobs, size=1)
    with pytest.raises(PermissionDenied):
        services.verification_item_mark(actor=viewer, item=ver.items.get(), mark="correct")
    with pytest.raises(PermissionDenied):
        services.verification_complete(actor=viewer, verification=ver)
    assert not AuditEvent.objects.filter(action__startswith="import.verification.marked").exists()


def test_import_sample_command_json(jobs):
    users, orders = jobs["users.csv"], jobs["orders.csv"]
    out = io.StringIO()
    call_command(
        "import_sample", users.pk, orders.pk, "--size", "4", "--seed", "11", "--json", stdout=out
    )
    data = json.loads(out.getvalue())
    assert set(data) == {"seed", "members"} and data["seed"] == 11
    assert len(data["members"]) == 4
    ids = verification.sample_ids([users.pk, orders.pk], size=4, seed=11)
    assert [m["member"]["id"] for m in data["members"]] == ids
    for m in data["members"]:
        assert set(m) == {"member", "sources", "stored"}
        assert m["sources"] and all(set(s) == {"file", "row", "values"} for s in m["sources"])
        assert {"member", "orders", "memberships", "commissions"} <= set(m["stored"])
    again = io.StringIO()
    call_command(
        "import_sample", orders.pk, users.pk, "--size", "4", "--seed", "11", "--json", stdout=again
    )
    assert json.loads(again.getvalue()) == data
    assert not AuditEvent.objects.filter(action__startswith="import.verification").exists()


def test_runbook_check_sample_verified(jobs, user_factory):
    op = user_factory("operator")
    users, orders = jobs["users.csv"], jobs["orders.csv"]
    assert not sample_status([users.pk])["ok"]
    ver = start(op, jobs, size=2)
    assert "not completed" in sample_status([users.pk, orders.pk])["summary"]
    a, b = ver.items.order_by("position")
    services.verification_item_mark(actor=op, item=a, mark="correct")
    services.verification_item_mark(actor=op, item=b, mark="wrong", note="name misspelt")
    services.verification_complete(actor=op, verification=ver)
    status = sample_status([users.pk, orders.pk])
    assert not status["ok"] and status["figures"]["wrong"] == 1
    assert status["figures"]["verification"] == ver.pk
    # a verification of a single job covers that job too; another clean one passes
    with committed():
        ver2 = services.verification_start(actor=op, jobs=[users], size=1, seed=3)
    services.verification_item_mark(actor=op, item=ver2.items.get(), mark="correct")
    services.verification_complete(actor=op, verification=ver2)
    ok = sample_status([users.pk])
    assert ok["ok"] and ok["figures"] == {
        "verification": ver2.pk, "seed": 3, "members": 1, "correct": 1, "wrong": 0,
        "content_hash": SampleVerification.objects.get(pk=ver2.pk).content_hash,
    }  # fmt: skip
    # the runbook check kind runs it
    from runbooks.checks import sample_verified_check

    assert sample_verified_check({"job_ids": [users.pk]})["ok"]
    assert not sample_verified_check({"job_ids": [users.pk, orders.pk]})["ok"]


def test_plan_marker_and_step_config_for_sample_verified():
    from runbooks.plans.markers import apply
    from runbooks.services import check_config_clean

    effect = apply(["check sample-verified 13 12"], 1)
    assert (effect.check_type, effect.check_config) == ("sample_verified", {"job_ids": [12, 13]})
    assert check_config_clean("sample_verified", {"job_ids": "12, 13 12"}) == {"job_ids": [12, 13]}
    with pytest.raises(ValidationError):
        check_config_clean("sample_verified", {"job_ids": ""})


def test_pages_start_mark_complete_report(jobs, client_for):
    client, op = client_for("operator")
    users = jobs["users.csv"]
    page = client.get(users.get_absolute_url())
    assert b'id="start-verification"' in page.content
    start_url = f"/imports/jobs/{users.pk}/verify/"
    assert client.get(start_url).status_code == 200
    bad = client.post(start_url, {"size": "0"})
    assert bad.status_code == 200 and b"greater than or equal to 1" in bad.content
    with committed():  # the draw runs on the imports worker once the request commits
        resp = client.post(start_url, {"size": "3", "seed": "99", "also": [jobs["orders.csv"].pk]})
    ver = SampleVerification.objects.get()
    assert resp.status_code == 302 and resp["Location"] == ver.get_absolute_url()
    assert sorted(ver.jobs.values_list("pk", flat=True)) == [users.pk, jobs["orders.csv"].pk]
    assert ver.seed == 99 and ver.items.count() == 3
    detail = client.get(ver.get_absolute_url())
    assert b'id="verification-seed">99<' in detail.content
    first = ver.items.order_by("position").first()
    page = client.get(first.get_absolute_url())
    assert page.status_code == 200
    assert first.member_label.encode() in page.content and b"users.csv" in page.content
    mark = f"/imports/verifications/{ver.pk}/members/1/mark/"
    resp = client.post(mark, {"mark": "correct", "note": ""})
    assert resp.status_code == 302 and resp["Location"].endswith("/members/2/")
    # wrong without a note: the error next to the note field
    resp = client.post(f"/imports/verifications/{ver.pk}/members/2/mark/", {"mark": "wrong"})
    assert resp.status_code == 400 and b"Say what is wrong" in resp.content
    client.post(f"/imports/verifications/{ver.pk}/members/2/mark/", {"mark": "wrong", "note": "x"})
    assert ReviewItem.objects.filter(kind="sample_wrong", status="open").count() == 1
    # completing with a member left: refused, nothing signed
    client.post(f"/imports/verifications/{ver.pk}/complete/")
    ver.refresh_from_db()
    assert ver.status == "open"
    client.post(f"/imports/verifications/{ver.pk}/members/3/mark/", {"mark": "correct"})
    resp = client.post(f"/imports/verifications/{ver.pk}/complete/")
    assert resp["Location"] == f"/imports/verifications/{ver.pk}/report/"
    ver.refresh_from_db()
    report = client.get(resp["Location"])
    assert ver.content_hash.encode() in report.content and b"report-verified" in report.content
    md = client.get(f"/imports/verifications/{ver.pk}/report.md")
    assert md["Content-Disposition"] == f'attachment; filename="sample-verification-{ver.pk}.md"'
    assert ver.content_hash in md.content.decode()
    assert client.get(f"/imports/verifications/{ver.pk}/report.csv").status_code == 200
    assert client.get(f"/imports/verifications/{ver.pk}/report.exe").status_code == 404
    # the job page and the dashboard show it
    assert (
        f'href="/imports/verifications/{ver.pk}/"'.encode()
        in client.get(users.get_absolute_url()).content
    )
    assert b'data-testid="verification-panel-slot"' in client.get("/").content
    panel = client.get("/imports/verifications/panel/")
    assert b'id="verification-panel"' in panel.content
    assert f'href="/imports/verifications/{ver.pk}/"'.encode() in panel.content
    assert client.get("/imports/verifications/").status_code == 200
    actions = list(
        AuditEvent.objects.filter(action__startswith="import.verification")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "import.verification.started", "import.verification.drawn",
        "import.verification.marked_correct",
        "import.verification.marked_wrong", "import.verification.marked_correct",
        "import.verification.completed",
    ]  # fmt: skip
    assert set(
        AuditEvent.objects.filter(action__startswith="import.verification").values_list(
            "actor", flat=True
        )
    ) == {op.pk}


def test_viewer_sees_but_cannot_start_or_mark_pages(jobs, client_for, user_factory):
    ver = start(user_factory("operator"), jobs, size=1)
    client, _viewer = client_for("viewer")
    users = jobs["users.csv"]
    assert b'id="start-verification"' not in client.get(users.get_absolute_url()).content
    assert client.get(f"/imports/jobs/{users.pk}/verify/").status_code == 403
    assert client.post(f"/imports/jobs/{users.pk}/verify/", {"size": "2"}).status_code == 403
    page = client.get(f"/imports/verifications/{ver.pk}/members/1/")
    assert page.status_code == 200 and b'id="mark-form"' not in page.content
    mark = client.post(f"/imports/verifications/{ver.pk}/members/1/mark/", {"mark": "correct"})
    assert mark.status_code == 403
    assert client.post(f"/imports/verifications/{ver.pk}/complete/").status_code == 403
    assert SampleVerification.objects.count() == 1
    assert ver.items.get().mark == "pending"


def test_rollback_after_a_wrong_mark_still_deletes_the_member(user_factory):
    from .factories import committed

    op = user_factory("operator")
    users = apply_file(op, CLEAN / "users.csv")
    with committed():
        ver = services.verification_start(actor=op, jobs=[users], size=1, seed=8)
    item = ver.items.get()
    services.verification_item_mark(actor=op, item=item, mark="wrong", note="wrong file")
    with committed():
        services.job_rollback(actor=op, job=users, reason="the sample found a wrong member")
    users.refresh_from_db()
    assert users.status == "rolled_back" and users.rollback_conflicts == []
    assert not Member.objects.exists()
    item.refresh_from_db()
    assert item.member_id is None and item.member_label and item.mark == "wrong"
    assert AuditEvent.objects.filter(action="import.job.rolled_back", job_id=users.pk).exists()


def test_a_credential_in_a_source_cell_is_never_printed(user_factory, tmp_path):
    op = user_factory("operator")
    secret = "sk_live_" + "Q7w" * 10
    apply_file(op, CLEAN / "users.csv")
    rows = (CLEAN / "orders.csv").read_text().splitlines()
    header, first = rows[0], rows[1]
    assert first.endswith(",")  # the notes column, empty
    path = tmp_path / "orders.csv"
    path.write_text("\n".join([header, first + f'"key {secret}"', *rows[2:]]) + "\n")
    orders = apply_file(op, path)
    inv = first.split(",")[0]
    member = Order.objects.get(inv=inv).member_id
    for seed in range(200):  # the seed whose sample of one is that order's buyer
        if verification.sample_ids([orders.pk], size=1, seed=seed) == [member]:
            break
    out = io.StringIO()
    args = ("--size", "1", "--seed", str(seed), "--json")
    call_command("import_sample", orders.pk, *args, stdout=out)
    data = json.loads(out.getvalue())
    source = next(s for s in data["members"][0]["sources"] if s["file"] == "orders.csv")
    assert "key ***" in source["values"]["notes"]
    assert secret not in out.getvalue()


# --- drawing on the imports worker -------------------------------------------------------------
def _reader_refuses(monkeypatch):
    """Reading a job's stored file fails loudly: it must not happen where this is set."""

    def refuse(job):
        raise AssertionError(f"the file of import #{job.pk} was read")

    monkeypatch.setattr(verification, "_rows", refuse)


def test_the_web_request_creates_a_drawing_verification_and_the_worker_draws_it(
    jobs, client_for, monkeypatch
):
    from django_q import tasks as q_tasks

    from imports import tasks

    client, op = client_for("operator")
    users, orders = jobs["users.csv"], jobs["orders.csv"]
    queued = []
    monkeypatch.setattr(q_tasks, "async_task", lambda *a, **kw: queued.append((a, kw)))
    _reader_refuses(monkeypatch)
    with committed():
        resp = client.post(
            f"/imports/jobs/{users.pk}/verify/", {"size": "4", "seed": "31", "also": [orders.pk]}
        )
    ver = SampleVerification.objects.get()
    assert resp.status_code == 302 and resp["Location"] == ver.get_absolute_url()
    assert ver.status == VerificationStatus.DRAWING and not ver.items.exists()
    # one thin task on the imports cluster, carrying the id only
    assert queued == [(("imports.tasks.draw_verification", ver.pk), {"cluster": "imports"})]
    started = AuditEvent.objects.get(action="import.verification.started")
    assert started.actor == op
    assert started.changes == {
        "status": "drawing", "jobs": [users.pk, orders.pk], "seed": 31, "size": 4,
    }  # fmt: skip
    assert not AuditEvent.objects.filter(action="import.verification.drawn").exists()

    # the page says so and polls (htmx attributes: no inline script), the poll answers the same
    page = client.get(ver.get_absolute_url())
    assert b"Drawing the sample" in page.content and b'id="verification-drawing"' in page.content
    assert b'hx-trigger="every 1s"' in page.content and b"<script>" not in page.content
    assert b'id="verification-items"' not in page.content
    poll = client.get(f"{ver.get_absolute_url()}?part=drawing")
    assert poll.status_code == 200 and b'id="verification-drawing"' in poll.content
    assert "HX-Refresh" not in poll
    assert client.get(f"/imports/verifications/{ver.pk}/members/1/").status_code == 404
    assert client.get("/imports/verifications/").status_code == 200
    # marking and completing wait for the sample
    with pytest.raises(ValidationError, match="still being drawn"):
        services.verification_complete(actor=op, verification=ver)
    client.post(f"/imports/verifications/{ver.pk}/complete/")
    ver.refresh_from_db()
    assert ver.status == VerificationStatus.DRAWING and not ver.content_hash
    assert not AuditEvent.objects.filter(action="import.verification.completed").exists()

    # the worker: reads the files, writes the items, opens the verification
    monkeypatch.undo()
    tasks.draw_verification(ver.pk)
    ver.refresh_from_db()
    assert ver.status == VerificationStatus.OPEN and ver.failure == ""
    assert list(ver.items.order_by("position").values_list("member_id", flat=True)) == (
        verification.sample_ids([users.pk, orders.pk], size=4, seed=31)
    )
    drawn = AuditEvent.objects.get(action="import.verification.drawn")
    assert drawn.changes["members"] == 4 and drawn.changes["source_rows"] >= 4
    assert drawn.actor == op and drawn.job_id == users.pk
    # the poll now reloads the page, which shows the sample
    poll = client.get(f"{ver.get_absolute_url()}?part=drawing")
    assert poll.status_code == 204 and poll["HX-Refresh"] == "true"
    page = client.get(ver.get_absolute_url())
    assert b'id="verification-items"' in page.content
    assert b"verification-drawing" not in page.content
    # a redelivered task changes nothing
    tasks.draw_verification(ver.pk)
    assert ver.items.count() == 4
    assert AuditEvent.objects.filter(action="import.verification.drawn").count() == 1


def test_an_unreadable_file_fails_the_draw_with_nothing_written(jobs, user_factory):
    from imports import tasks

    op = user_factory("operator")
    users = jobs["users.csv"]
    ver = services.verification_start(actor=op, jobs=[users], size=5, seed=4)
    # the stored file is gone from the storage, though the job still names it
    users.file.storage.delete(users.file.name)
    tasks.draw_verification(ver.pk)
    ver.refresh_from_db()
    assert ver.status == VerificationStatus.FAILED and not ver.items.exists()
    assert f"The file of import #{users.pk} (users.csv) cannot be read" in ver.failure
    failed = AuditEvent.objects.get(action="import.verification.failed")
    assert failed.changes["status"] == ["drawing", "failed"] and failed.actor == op
    assert failed.message == ver.failure and failed.target_id == str(ver.pk)
    assert not AuditEvent.objects.filter(action="import.verification.drawn").exists()
    # a failed verification takes no marks and no completion; a redelivery changes nothing
    with pytest.raises(ValidationError, match="failed"):
        services.verification_complete(actor=op, verification=ver)
    tasks.draw_verification(ver.pk)
    assert AuditEvent.objects.filter(action="import.verification.failed").count() == 1
    from imports.checks import sample_status

    assert "No sample verification" in sample_status([users.pk])["summary"]


def test_a_failure_reason_is_masked_and_shown(jobs, client_for, monkeypatch):
    client, op = client_for("operator")
    secret = "sk_live_" + "Zx9" * 10

    def broken(job):
        raise OSError(f"cannot open token={secret}")

    with committed():
        ver = services.verification_start(actor=op, jobs=[jobs["orders.csv"]], size=3, seed=1)
        monkeypatch.setattr(verification, "_rows", broken)
    ver.refresh_from_db()
    assert ver.status == VerificationStatus.FAILED and not ver.items.exists()
    assert "cannot be read" in ver.failure and secret not in ver.failure
    failed = AuditEvent.objects.get(action="import.verification.failed")
    assert secret not in failed.message and secret not in json.dumps(failed.changes)
    page = client.get(ver.get_absolute_url())
    assert b'id="verification-failure"' in page.content and secret.encode() not in page.content
    assert b"Drawing the sample failed" in page.content


def test_an_error_while_writing_the_items_leaves_none(jobs, user_factory, monkeypatch):
    """The items, the status and the audit event commit together: an error in between rolls
    every item back, and the verification is failed (the task fails too, masked)."""
    from imports import tasks
    from imports.services import verification as service
    from opsportal.tasking import TaskFailed

    op = user_factory("operator")
    ver = services.verification_start(actor=op, jobs=[jobs["users.csv"]], size=5, seed=9)
    real = service.record

    def record(**kw):
        if kw["action"] == "import.verification.drawn":
            assert SampleVerification.objects.get(pk=ver.pk).items.count() == 5  # written...
            raise RuntimeError("the audit chain is busy")
        return real(**kw)

    monkeypatch.setattr(service, "record", record)
    with pytest.raises(TaskFailed, match="RuntimeError"):
        tasks.draw_verification(ver.pk)
    ver.refresh_from_db()
    assert ver.status == VerificationStatus.FAILED and not ver.items.exists()  # ...rolled back
    assert "unexpected error" in ver.failure
    assert AuditEvent.objects.filter(action="import.verification.failed").count() == 1


def test_jobs_without_members_are_refused_in_the_request(user_factory):
    op = user_factory("operator")
    products = apply_file(op, CLEAN / "products.csv")
    with pytest.raises(ValidationError, match="no member rows"):
        services.verification_start(actor=op, jobs=[products])
    assert not SampleVerification.objects.exists()


def test_verification_pages_within_the_query_budget(jobs, client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from opsportal.hotpages import QUERY_BUDGET, hot_pages

    client, op = client_for("operator")

    def measure():
        labels = {"sample verifications", "sample verification", "sampled member"}
        pages = [(label, url) for label, url in hot_pages() if label in labels]
        counts = {}
        for label, url in pages:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200, url
            counts[label] = len(queries)
        return counts

    start(op, jobs, size=3, seed=1)
    small = measure()
    assert len(small) == 3
    for _ in range(3):
        start(op, jobs, size=40, seed=2)
    grown = measure()
    assert all(n <= QUERY_BUDGET for n in grown.values()), grown
    assert all(grown[label] <= small[label] for label in small), (small, grown)
