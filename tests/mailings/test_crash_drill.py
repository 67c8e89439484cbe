"""Crash drill: a real ``qcluster`` worker sending a campaign is killed with SIGKILL mid-batch;
the campaign is resumed on a new worker and no member gets the message twice.

The worker sends through Django's file backend (``EMAIL_URL=filemail://…``): every message that
left either process is in the directory, whatever happened to the database afterwards.
"""

import os
import re
import signal

import pytest
from django_q.conf import Conf

from mailings import services
from mailings.choices import CampaignStatus, RecipientStatus
from mailings.models import Campaign, Recipient
from opsportal.audit.models import AuditEvent
from tests.drills.qcluster_procs import start_worker, wait_for

from .factories import make_campaign, make_job, make_members

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MEMBERS = 400


def now(campaign) -> Campaign:
    return Campaign.objects.get(pk=campaign.pk)


def count(campaign, status) -> int:
    return Recipient.objects.filter(campaign=campaign, status=status).count()


def delivered(folder) -> list[str]:
    """The recipient of every message the backends wrote (one file per connection)."""
    out = []
    for path in folder.iterdir():
        out += re.findall(r"^To: (\S+)$", path.read_text(errors="replace"), flags=re.MULTILINE)
    return out


def test_worker_killed_mid_campaign_resumes_without_a_duplicate(
    postgres_only, user_factory, monkeypatch, settings, tmp_path
):
    op = user_factory("operator")
    job = make_job()
    make_members(MEMBERS, job=job)
    # 40 messages/s: claims of 80 (two seconds), ten seconds in all
    campaign = make_campaign(op, job=job, rate=40, batch_size=100)
    outbox = tmp_path / "mail"
    outbox.mkdir()
    env = {"EMAIL_URL": f"filemail:///{outbox}"}
    monkeypatch.setattr(Conf, "SYNC", False)  # enqueue for real, on the imports cluster

    worker = start_worker(env=env, log=tmp_path / "worker1.log")
    try:
        services.campaign_start(actor=op, campaign=campaign)
        # one batch recorded and the next one claimed, in flight
        in_flight = wait_for(
            lambda: now(campaign).sent_count >= 80 and count(campaign, RecipientStatus.SENDING),
            timeout=120,
        )
        assert in_flight, f"the worker never got mid-batch:\n{worker.tail()}"
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its children, no clean-up
        worker.proc.wait(timeout=30)
    finally:
        worker.stop()

    crashed = now(campaign)
    assert crashed.status == CampaignStatus.RUNNING
    left_sending = count(campaign, RecipientStatus.SENDING)
    assert left_sending > 0
    before = delivered(outbox)
    assert crashed.sent_count <= len(before) <= crashed.sent_count + left_sending
    assert len(before) == len(set(before))

    settings.MAILINGS_STALL_SECONDS = 0  # the dead sender's heartbeat is old enough now
    worker = start_worker(env=env, log=tmp_path / "worker2.log")
    try:
        services.campaign_resume(actor=op, campaign=crashed)
        done = wait_for(lambda: now(campaign).status == CampaignStatus.COMPLETED, timeout=180)
        assert done, f"the resumed campaign never finished:\n{worker.tail()}"
    finally:
        worker.stop()

    final = now(campaign)
    sent = set(
        Recipient.objects.filter(campaign=campaign, status=RecipientStatus.SENT).values_list(
            "email", flat=True
        )
    )
    unknown = set(
        Recipient.objects.filter(campaign=campaign, status=RecipientStatus.UNKNOWN).values_list(
            "email", flat=True
        )
    )
    messages = delivered(outbox)
    assert len(messages) == len(set(messages)), "a member got the campaign twice"
    assert sent <= set(messages)  # every row marked sent did leave, once
    assert len(unknown) == left_sending == final.unknown_count  # in flight: never re-sent
    assert len(sent) + len(unknown) == MEMBERS == final.total
    assert set(messages) <= sent | unknown
    assert final.sent_count == len(sent)
    assert AuditEvent.objects.get(action="mailing.campaign.resumed").actor == op
    marked = AuditEvent.objects.get(action="mailing.campaign.unknown_marked")
    assert marked.changes["unknown"] == left_sending
    assert AuditEvent.objects.filter(action="mailing.campaign.completed").count() == 1
