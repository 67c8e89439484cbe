"""API fixtures: ``token_for(role, scopes)`` makes a user of that role and a token for it."""

import pytest
from django.test import Client

from opsportal.api.services import token_create


class ApiClient(Client):
    """A Django test client sending ``Authorization: Bearer <token>`` on every request."""

    def __init__(self, token: str | None, **kwargs):
        super().__init__(**kwargs)
        self.token = token

    def request(self, **request):
        if self.token is not None:
            request.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.token}")
        return super().request(**request)


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    # Several users per test: PBKDF2 would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def token_for(user_factory):
    """``token_for("operator", ["read"])`` -> (ApiClient, user, ApiToken, raw token string)."""

    def make(role: str = "admin", scopes=("read",), user=None, **kwargs):
        user = user or user_factory(role)
        token, raw = token_create(
            actor=user if role != "service" else None,
            user=user,
            name=kwargs.pop("name", "test token"),
            scopes=list(scopes),
            **kwargs,
        )
        return ApiClient(raw), user, token, raw

    return make
