"""Factories for the ledger. Tests of writes go through deployments.services; these build the
history that reads (DORA, timeline, pages) are tested on."""

import hashlib
from datetime import timedelta

import factory
from django.utils import timezone

from deployments.choices import DeploymentStatus, Provider, Source
from deployments.models import Deployment
from tests.factories import EnvironmentFactory


def sha_for(n) -> str:
    return hashlib.sha256(f"commit-{n}".encode()).hexdigest()[:40]


class DeploymentFactory(factory.django.DjangoModelFactory):
    """``DeploymentFactory(environment=env, status="success", finished_at=t)``."""

    class Meta:
        model = Deployment

    environment = factory.SubFactory(EnvironmentFactory)
    provider = Provider.GITHUB_ACTIONS
    external_id = factory.Sequence(lambda n: f"run-{n}")
    sha = factory.Sequence(sha_for)
    ref = "main"
    status = DeploymentStatus.SUCCESS
    finished_at = factory.LazyFunction(timezone.now)
    started_at = factory.LazyAttribute(
        lambda d: (d.finished_at or timezone.now()) - timedelta(minutes=3)
    )
    source = Source.API
