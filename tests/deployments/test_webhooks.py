"""Vercel and Render deployment webhooks, with bodies and signatures as the providers send them.

Vercel (vercel.com/docs/webhooks/webhooks-api): ``{"type", "id", "createdAt" (ms), "region",
"payload": {"team": {"id"}, "user": {"id"}, "deployment": {"id", "meta", "url", "name"},
"links": {"deployment", "project"}, "target", "project": {"id"}, "plan", "regions"}}``, signed
with ``x-vercel-signature`` = hex HMAC-SHA1 of the raw body.

Render (render.com/docs/webhooks): Standard Webhooks headers ``webhook-id``,
``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`` under
``whsec_<base64 key>``; body ``{"type", "timestamp", "data": {"id", "serviceId", "serviceName",
"status"}}``; deploy and commit from the API (``/events/{id}``, ``/services/{id}/deploys/{id}``).
"""

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from deployments import webhooks
from deployments.models import Deployment, WebhookDelivery
from opsportal.audit.models import AuditEvent

VERCEL_SECRET = "vercel-webhook-secret-for-tests-0001"
RENDER_KEY = b"render-standard-webhooks-key-0001"
RENDER_SECRET = "whsec_" + base64.b64encode(RENDER_KEY).decode()
SHA = "2c8f1e9a7b3d5c0e4f6a8b2d1c3e5f7a9b0d2e4f"


@pytest.fixture(autouse=True)
def webhook_settings(settings, prod, preview):
    settings.VERCEL_WEBHOOK_SECRETS = ["an-old-rotated-secret", VERCEL_SECRET]
    settings.VERCEL_PROJECTS = {
        "prj_makalah:production": "makalah-ai/prod",
        "prj_makalah:preview": "makalah-ai/preview",
    }
    settings.RENDER_WEBHOOK_SECRETS = [RENDER_SECRET]
    settings.RENDER_SERVICES = {"srv-cukouhrtq21c73e9scng": "makalah-ai/prod"}
    settings.RENDER_API_KEY = "rnd_test_api_key_value"
    return settings


# --- Vercel ---------------------------------------------------------------------------------------
def vercel_body(
    event_type="deployment.succeeded",
    *,
    delivery="evt_1",
    created=None,
    target="production",
    deployment_id="dpl_89Fk2Qm",
    sha=SHA,
):
    return {
        "type": event_type,
        "id": delivery,
        "createdAt": int((created if created is not None else time.time()) * 1000),
        "region": "iad1",
        "payload": {
            "team": {"id": "team_4FWx"},
            "user": {"id": "usr_9Qa"},
            "deployment": {
                "id": deployment_id,
                "meta": {
                    "githubCommitAuthorName": "dev",
                    "githubCommitMessage": "Fix the checkout",
                    "githubCommitOrg": "makalah",
                    "githubCommitRef": "main",
                    "githubCommitRepo": "web",
                    "githubCommitSha": sha,
                    "githubDeployment": "1",
                },
                "url": "makalah-web-8x2k1.vercel.app",
                "name": "makalah-web",
            },
            "links": {
                "deployment": f"https://vercel.com/makalah/makalah-web/{deployment_id}",
                "project": "https://vercel.com/makalah/makalah-web",
            },
            "target": target,
            "project": {"id": "prj_makalah"},
            "plan": "pro",
            "regions": ["iad1"],
        },
    }


def post_vercel(client, body, *, secret=VERCEL_SECRET, signature=None):
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    sig = (
        signature
        if signature is not None
        else hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()
    )
    return client.post(
        reverse("deployments:webhook_vercel"),
        data=raw,
        content_type="application/json",
        headers={"x-vercel-signature": sig},
    )


def test_vercel_deployment_recorded_with_a_valid_signature(client, prod):
    response = post_vercel(client, vercel_body("deployment.created", delivery="evt_a"))
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "recorded"
    dep = Deployment.objects.get()
    assert (dep.environment, dep.provider, dep.external_id) == (prod, "vercel", "dpl_89Fk2Qm")
    assert dep.status == "in_progress" and dep.sha == SHA and dep.ref == "main"
    assert dep.url == "https://makalah-web-8x2k1.vercel.app"
    assert dep.links["deployment"].endswith("/dpl_89Fk2Qm") and dep.source == "vercel_webhook"
    assert dep.triggered_by is None
    (event,) = AuditEvent.objects.filter(action="deployment.recorded")
    assert event.actor is None and event.actor_label == "system" and event.environment_id == prod.pk

    response = post_vercel(client, vercel_body("deployment.succeeded", delivery="evt_b"))
    assert response.json()["outcome"] == "updated"
    dep.refresh_from_db()
    assert dep.status == "success" and dep.finished_at is not None
    assert AuditEvent.objects.filter(action="deployment.updated").count() == 1
    assert WebhookDelivery.objects.count() == 2


def test_vercel_wrong_signature_is_refused(client):
    body = vercel_body()
    for kwargs in ({"secret": "not-the-secret"}, {"signature": ""}, {"signature": "00" * 20}):
        response = post_vercel(client, body, **kwargs)
        assert response.status_code == 400
    assert response.json()["detail"] == "Invalid x-vercel-signature."
    # A body changed after signing does not verify either.
    raw = json.dumps(body).encode()
    sig = hmac.new(VERCEL_SECRET.encode(), raw, hashlib.sha1).hexdigest()
    tampered = raw.replace(b"dpl_89Fk2Qm", b"dpl_evil0000")
    assert post_vercel(client, tampered, signature=sig).status_code == 400
    assert not Deployment.objects.exists() and not WebhookDelivery.objects.exists()
    assert not AuditEvent.objects.exists()


def test_vercel_replay_is_refused(client):
    body = vercel_body(delivery="evt_replayed")
    assert post_vercel(client, body).json()["outcome"] == "recorded"
    again = post_vercel(client, body)
    assert again.status_code == 200 and again.json() == {"outcome": "duplicate"}
    assert Deployment.objects.count() == 1 and WebhookDelivery.objects.count() == 1
    assert AuditEvent.objects.count() == 1


def test_vercel_stale_delivery_is_refused(client, settings):
    body = vercel_body(created=time.time() - settings.VERCEL_WEBHOOK_MAX_AGE - 60)
    response = post_vercel(client, body)
    assert response.status_code == 400 and "old" in response.json()["detail"]
    future = vercel_body(created=time.time() + settings.VERCEL_WEBHOOK_MAX_AGE + 60)
    assert post_vercel(client, future).status_code == 400
    assert not Deployment.objects.exists() and not AuditEvent.objects.exists()


def test_vercel_preview_target_and_promotion(client, prod, preview):
    post_vercel(client, vercel_body("deployment.succeeded", delivery="e1", target=None))
    dep = Deployment.objects.get()
    assert dep.environment == preview
    response = post_vercel(client, vercel_body("deployment.promoted", delivery="e2", target=None))
    assert response.json()["outcome"] == "recorded"
    promoted = Deployment.objects.get(environment=prod)
    assert promoted.external_id == dep.external_id and promoted.status == "success"


@pytest.mark.parametrize(
    ("event_type", "status"),
    [("deployment.error", "failure"), ("deployment.canceled", "cancelled")],
)
def test_vercel_failure_and_cancel(client, event_type, status):
    post_vercel(client, vercel_body("deployment.created", delivery="c"))
    post_vercel(client, vercel_body(event_type, delivery="d"))
    assert Deployment.objects.get().status == status


def test_vercel_out_of_order_delivery_does_not_undo_the_end(client):
    post_vercel(client, vercel_body("deployment.succeeded", delivery="late-1"))
    response = post_vercel(
        client, vercel_body("deployment.created", delivery="late-2", created=time.time() - 120)
    )
    assert response.json()["outcome"] in ("updated", "stale")
    assert Deployment.objects.get().status == "success"


def test_vercel_events_the_ledger_does_not_record_are_acknowledged(client, settings):
    body = vercel_body("project.created", delivery="p1")
    response = post_vercel(client, body)
    assert response.json()["outcome"] == "ignored"
    unmapped = vercel_body(delivery="p2")
    unmapped["payload"]["project"]["id"] = "prj_someone_else"
    assert post_vercel(client, unmapped).json()["outcome"] == "ignored"
    no_git = vercel_body(delivery="p3")
    no_git["payload"]["deployment"]["meta"] = {}
    assert post_vercel(client, no_git).json()["outcome"] == "ignored"
    assert not Deployment.objects.exists()
    assert WebhookDelivery.objects.filter(outcome="ignored").count() == 3


def test_vercel_without_configured_secret_answers_not_found(client, settings):
    settings.VERCEL_WEBHOOK_SECRETS = []
    assert post_vercel(client, vercel_body()).status_code == 404


def test_webhook_takes_only_post_and_no_login(client):
    assert client.get(reverse("deployments:webhook_vercel")).status_code == 405


def test_refused_delivery_never_logs_the_body(client, caplog):
    body = vercel_body(delivery="evt_log")
    body["payload"]["deployment"]["meta"]["githubCommitMessage"] = "sk_live_" + "Lg5" * 10
    with caplog.at_level("DEBUG"):
        post_vercel(client, body, secret="wrong")
        post_vercel(client, body)
    assert "sk_live_" not in caplog.text and "Lg5Lg5" not in caplog.text


# --- Render ---------------------------------------------------------------------------------------
RENDER_EVENTS = {
    "evt-start1": {"id": "evt-start1", "type": "deploy_started", "details": {"deployId": "dep-d1"}},
    "evt-end1": {
        "id": "evt-end1",
        "type": "deploy_ended",
        "details": {"deployId": "dep-d1", "status": 2},
    },
}
RENDER_DEPLOY = {
    "id": "dep-d1",
    "commit": {"id": SHA, "message": "Bump the API", "createdAt": "2026-11-30T08:00:00Z"},
    "status": "live",
    "trigger": "new_commit",
    "createdAt": "2026-11-30T08:10:00Z",
    "updatedAt": "2026-11-30T08:14:00Z",
    "finishedAt": "2026-11-30T08:14:00Z",
}


def fake_render_api(path):
    if path.startswith("/events/"):
        return RENDER_EVENTS[path.rsplit("/", 1)[1]]
    assert path == "/services/srv-cukouhrtq21c73e9scng/deploys/dep-d1", path
    return RENDER_DEPLOY


def render_request(body, *, msg_id="msg_2Kq1", stamp=None, secret_key=RENDER_KEY):
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()) if stamp is None else stamp)
    signed = f"{msg_id}.{stamp}.".encode() + raw
    sig = base64.b64encode(hmac.new(secret_key, signed, hashlib.sha256).digest()).decode()
    return raw, {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": f"v1,{sig}"}


def render_body(event_type, event_id, status=None):
    data = {"id": event_id, "serviceId": "srv-cukouhrtq21c73e9scng", "serviceName": "makalah-api"}
    if status:
        data["status"] = status
    return {"type": event_type, "timestamp": "2026-11-30T08:14:01.123456Z", "data": data}


def post_render(client, raw, headers):
    return client.post(
        reverse("deployments:webhook_render"),
        data=raw,
        content_type="application/json",
        headers=headers,
    )


def test_render_deploy_recorded_from_the_webhook_and_api(client, prod, monkeypatch):
    monkeypatch.setattr(webhooks, "render_api_get", fake_render_api)
    raw, headers = render_request(render_body("deploy_started", "evt-start1"), msg_id="msg_1")
    response = post_render(client, raw, headers)
    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "recorded"
    raw, headers = render_request(
        render_body("deploy_ended", "evt-end1", "succeeded"), msg_id="msg_2"
    )
    assert post_render(client, raw, headers).json()["outcome"] == "updated"
    dep = Deployment.objects.get()
    assert (dep.environment, dep.provider, dep.external_id, dep.sha) == (
        prod,
        "render",
        "dep-d1",
        SHA,
    )
    assert dep.status == "success" and dep.source == "render_webhook"
    assert dep.commit_time.isoformat() == "2026-11-30T08:00:00+00:00"
    assert dep.finished_at.isoformat() == "2026-11-30T08:14:01.123456+00:00"
    assert dep.lead_time.total_seconds() == 14 * 60 + 1.123456
    assert AuditEvent.objects.filter(action__startswith="deployment.").count() == 2
    # Replayed: acknowledged, not acted on.
    assert post_render(client, raw, headers).json() == {"outcome": "duplicate"}
    assert AuditEvent.objects.filter(action__startswith="deployment.").count() == 2


@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_render_failed_and_cancelled(client, monkeypatch, status):
    monkeypatch.setattr(webhooks, "render_api_get", fake_render_api)
    raw, headers = render_request(render_body("deploy_ended", "evt-end1", status))
    post_render(client, raw, headers)
    assert Deployment.objects.get().status == {"failed": "failure", "canceled": "cancelled"}[status]


def test_render_bad_signature_stale_timestamp_and_missing_headers(client, monkeypatch, settings):
    monkeypatch.setattr(webhooks, "render_api_get", fake_render_api)
    body = render_body("deploy_ended", "evt-end1", "succeeded")
    raw, headers = render_request(body, secret_key=b"another-key")
    assert post_render(client, raw, headers).status_code == 400
    raw, headers = render_request(
        body, stamp=int(time.time()) - settings.RENDER_WEBHOOK_TOLERANCE - 30
    )
    assert post_render(client, raw, headers).status_code == 400
    raw, headers = render_request(body)
    headers["webhook-id"] = "msg_other"  # the id is signed too
    assert post_render(client, raw, headers).status_code == 400
    raw, headers = render_request(body)
    del headers["webhook-signature"]
    assert post_render(client, raw, headers).status_code == 400
    assert not Deployment.objects.exists() and not WebhookDelivery.objects.exists()


def test_render_api_down_is_a_503_and_not_remembered(client, monkeypatch):
    def down(path):
        raise webhooks.ProviderUnavailable("Render's API did not answer (ConnectionRefusedError).")

    monkeypatch.setattr(webhooks, "render_api_get", down)
    raw, headers = render_request(render_body("deploy_ended", "evt-end1", "succeeded"))
    assert post_render(client, raw, headers).status_code == 503
    assert not WebhookDelivery.objects.exists()  # the retry will be acted on
    monkeypatch.setattr(webhooks, "render_api_get", fake_render_api)
    assert post_render(client, raw, headers).json()["outcome"] == "recorded"


def test_render_other_events_and_unmapped_services_are_ignored(client, monkeypatch):
    monkeypatch.setattr(webhooks, "render_api_get", fake_render_api)
    raw, headers = render_request(
        {
            "type": "server_failed",
            "timestamp": "2026-11-30T08:00:00Z",
            "data": {"id": "evt-x", "serviceId": "srv-cukouhrtq21c73e9scng"},
        },
        msg_id="m1",
    )
    assert post_render(client, raw, headers).json()["outcome"] == "ignored"
    other = render_body("deploy_ended", "evt-end1", "succeeded")
    other["data"]["serviceId"] = "srv-unknown"
    raw, headers = render_request(other, msg_id="m2")
    assert post_render(client, raw, headers).json()["outcome"] == "ignored"
    assert not Deployment.objects.exists()


class _RenderAPI(BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if self.path == "/v1/events/evt-end1":
            body = RENDER_EVENTS["evt-end1"]
        elif self.path == "/v1/services/srv-cukouhrtq21c73e9scng/deploys/dep-d1":
            body = RENDER_DEPLOY
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_render_api_is_asked_over_http_with_the_key(client, settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RenderAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings.RENDER_API_URL = f"http://127.0.0.1:{server.server_port}/v1"
        raw, headers = render_request(render_body("deploy_ended", "evt-end1", "succeeded"))
        assert post_render(client, raw, headers).json()["outcome"] == "recorded"
    finally:
        server.shutdown()
    assert _RenderAPI.seen == [
        ("/v1/events/evt-end1", "Bearer rnd_test_api_key_value"),
        ("/v1/services/srv-cukouhrtq21c73e9scng/deploys/dep-d1", "Bearer rnd_test_api_key_value"),
    ]
    assert Deployment.objects.get().sha == SHA


def test_standard_webhooks_reference_vector():
    """The signature scheme against the Standard Webhooks specification's own example."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id, stamp = "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330"
    body = b'{"test": 2432232314}'
    assert (
        webhooks.render_signature(msg_id, stamp, body, secret)
        == "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
