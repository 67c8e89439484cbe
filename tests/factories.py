"""factory_boy factories shared by every app's tests."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from environments.choices import Tier
from environments.models import Environment, Project, ProviderDeployment

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    """A user; pass ``role="operator"`` (viewer, operator, approver, admin) to put it in a group."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))
            if extracted == "admin":
                self.is_staff = self.is_superuser = True
        if create:
            self.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"project{n}.example")
    slug = factory.LazyAttribute(lambda p: p.name.replace(".", "-"))


class EnvironmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Environment

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"env{n}")
    tier = Tier.DEVELOPMENT
    protected = factory.LazyAttribute(lambda e: e.tier == Tier.PRODUCTION)


class ProviderDeploymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderDeployment

    environment = factory.SubFactory(EnvironmentFactory)
    provider = "convex"
    identifier = factory.Sequence(lambda n: f"dev:happy-otter-{n}")
