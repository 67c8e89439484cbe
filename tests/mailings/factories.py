"""Test data for campaigns: members in bulk (10,000 in one statement), fake clocks, backends."""

import threading

from django.core.mail.backends.locmem import EmailBackend as LocmemBackend

from imports.choices import JobKind, JobStatus
from imports.models import ImportJob, Member
from mailings import services

BODY = "Hello {{ first_name|default:'member' }},\nWelcome aboard, {{ name }} <{{ email }}>.\n"


def make_job(**kw) -> ImportJob:
    return ImportJob.objects.create(
        kind=JobKind.USERS, status=JobStatus.COMPLETED, file="imports/x.csv",
        original_name="users.csv", sha256=f"{ImportJob.objects.count():064d}", **kw,
    )  # fmt: skip


def make_members(n: int, *, job: ImportJob | None = None, start: int = 0, **kw) -> list[Member]:
    Member.objects.bulk_create(
        [
            Member(email=f"m{i}@example.com", name=f"Member Number{i}", job=job, **kw)
            for i in range(start, start + n)
        ],
        batch_size=2000,
    )
    return list(Member.objects.filter(job=job).order_by("pk"))


def make_campaign(actor, *, job=None, rate: float = 0, batch_size: int = 100, **kw):
    return services.campaign_create(
        actor=actor, name=kw.pop("name", "Welcome"),
        subject_template=kw.pop("subject_template", "Welcome, {{ first_name }}"),
        body_template=kw.pop("body_template", BODY), job=job, rate=rate, batch_size=batch_size,
        **kw,
    )  # fmt: skip


class FakeClock:
    """Monotonic time that moves only when the sender sleeps; ``on_sleep`` runs at each sleep."""

    def __init__(self, on_sleep=None):
        self.t = 1000.0
        self.sleeps = 0
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.t += seconds
        self.sleeps += 1
        if self.on_sleep:
            self.on_sleep(self)


class StampBackend(LocmemBackend):
    """locmem, and the fake clock's time of each message (``STAMPS``)."""

    clock: FakeClock | None = None
    stamps: list[float] = []

    def send_messages(self, messages):
        if StampBackend.clock is not None:
            StampBackend.stamps.extend(StampBackend.clock.t for _ in messages)
        return super().send_messages(messages)


class FlakyBackend(LocmemBackend):
    """locmem that refuses the addresses in ``refuse``."""

    refuse: set[str] = set()
    lock = threading.Lock()

    def send_messages(self, messages):
        for m in messages:
            if set(m.to) & FlakyBackend.refuse:
                raise ConnectionRefusedError("550 mailbox unavailable")
        return super().send_messages(messages)
