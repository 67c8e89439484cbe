from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import TestCase

from imports.choices import CommissionKind
from imports.models import Product
from sejolisync import services

from .payloads import encode, signature


@pytest.fixture(autouse=True)
def _sync_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.NOTIFY_ENCRYPTION_KEY = "test-sejoli-key-0123456789-abcdefghijklmnop"


def committed():
    """Run on_commit callbacks (the processing task: inline in sync mode) at the block's end."""
    return TestCase.captureOnCommitCallbacks(execute=True)


@pytest.fixture
def product(db):
    return Product.objects.create(
        name="Kelas Ekspor Pemula",
        sejoli_id=12,
        price=Decimal("299000"),
        commission_kind=CommissionKind.PERCENT,
        commission_value=Decimal("20"),
        access_days=365,
    )


@pytest.fixture
def shop(db):
    return services.hook_create(actor=None, name="kelas-ekspor")


@pytest.fixture
def signed_shop(db):
    return services.hook_create(actor=None, name="signed-shop", signed=True)


@pytest.fixture
def post(client):
    """``post(new_hook, body, kind="json"|"form", sign=True)`` → the response, with the
    delivery's processing (an on_commit task) run."""

    def do(new, body, kind="json", sign=None, url=None, headers=None):
        raw, content_type = encode(body, kind) if isinstance(body, dict) else (body, kind)
        extra = dict(headers or {})
        if new.signing_secret and sign is not False:
            extra["HTTP_X_SEJOLI_SIGNATURE"] = signature(new.signing_secret, raw)
        with committed():
            return client.post(url or new.url, raw, content_type=content_type, **extra)

    return do


@pytest.fixture
def make_hook_command():
    def run(*args):
        from io import StringIO

        out = StringIO()
        call_command("sejoli_hook", *args, stdout=out)
        return out.getvalue()

    return run
