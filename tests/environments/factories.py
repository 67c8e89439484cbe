"""Factories for the inventory. A variable is built from a value the way the import stores it."""

import factory

from environments.models import ConfigVar
from environments.services import value_state
from tests.factories import EnvironmentFactory


class ConfigVarFactory(factory.django.DjangoModelFactory):
    """``ConfigVarFactory(environment=env, key="X", raw="value")``: state derived from raw."""

    class Meta:
        model = ConfigVar
        exclude = ("raw", "secret", "state")

    environment = factory.SubFactory(EnvironmentFactory)
    key = factory.Sequence(lambda n: f"VAR_{n}")
    raw = "some-value"
    secret = None

    @factory.lazy_attribute
    def state(self):
        return value_state(self.key, self.raw, is_secret=self.secret)

    is_secret = factory.LazyAttribute(lambda o: o.state["is_secret"])
    has_value = True
    value = factory.LazyAttribute(lambda o: o.state["value"])
    fingerprint = factory.LazyAttribute(lambda o: o.state["fingerprint"])
    value_kind = factory.LazyAttribute(lambda o: o.state["value_kind"])
    hint = factory.LazyAttribute(lambda o: o.state["hint"])
    detail = factory.LazyAttribute(lambda o: o.state["detail"])
