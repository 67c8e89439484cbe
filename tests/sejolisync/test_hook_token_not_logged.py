"""A shop hook's token is its credential, and it is the last part of the hook's address: a
refused post (bad signature, a disabled hook, a body too large) logs no line that holds it."""

import logging

import pytest

from opsportal.audit.masking import scrub_text
from sejolisync import services

pytestmark = pytest.mark.django_db


def _lines(caplog) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def test_a_refused_post_logs_no_token(signed_shop, shop, post, caplog, client, settings):
    caplog.set_level(logging.DEBUG)
    response = post(signed_shop, {"order_id": "1", "order_status": "completed"}, sign=False)
    assert response.status_code == 401
    services.hook_switch(actor=None, hook=shop.hook, enabled=False, reason="shop closed")
    response = post(shop, {"order_id": "2", "order_status": "completed"})
    assert response.status_code == 404
    response = client.post(signed_shop.url, "x" * 10, content_type="text/plain",
                           CONTENT_LENGTH=str(10**9))  # fmt: skip
    assert response.status_code == 413
    logged = _lines(caplog)
    assert "/hooks/sejoli/" in logged  # the refusals are logged…
    for token in (signed_shop.token, shop.token):
        assert token not in logged  # …without the token
        assert token not in scrub_text(f"POST /hooks/sejoli/{token}/")
