"""Provider webhooks: signature checks and payload reading, kept apart from the views.

Vercel (account or integration webhooks, https://vercel.com/docs/webhooks)
    ``x-vercel-signature`` is the hex HMAC-SHA1 of the raw body under the webhook's secret. The
    body is ``{"type", "id", "createdAt" (ms), "region", "payload": {"deployment": {"id",
    "url", "name", "meta": {"githubCommitSha", "githubCommitRef", ...}}, "links":
    {"deployment", "project"}, "target": "production" | "staging" | null, "project": {"id"},
    "team", "user", "plan", "regions"}}``. There is no timestamp header: ``createdAt`` is the
    timestamp (inside the signed body), ``id`` the delivery id.

Render (https://render.com/docs/webhooks, Standard Webhooks)
    ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` (``v1,<base64
    HMAC-SHA256 of "<id>.<timestamp>.<body>">``, space-separated when several) under the secret
    ``whsec_<base64 key>``. The body is ``{"type": "deploy_started" | "deploy_ended" | ...,
    "timestamp", "data": {"id": "evt-…", "serviceId": "srv-…", "serviceName", "status":
    "succeeded" | "failed" | "canceled"}}``. It names neither the deploy nor its commit: those
    come from Render's API (``GET /v1/events/{id}`` → ``details.deployId``, then
    ``GET /v1/services/{serviceId}/deploys/{deployId}`` → ``commit.id``, ``commit.createdAt``).

Secrets and the mapping of provider projects to portal environments are settings (read from the
environment): see docs/deployments.md for why.
"""

import base64
import binascii
import hashlib
import hmac
import http.client
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.utils.dateparse import parse_datetime

from .choices import DeploymentStatus, Provider, Source

logger = logging.getLogger(__name__)


class WebhookRefused(Exception):
    """The request is not a genuine, fresh delivery; the message is safe to return."""

    status = 400


class NotConfigured(WebhookRefused):
    status = 404


class ProviderUnavailable(Exception):
    """The provider's API did not answer: the delivery is not acted on, the provider retries."""


@dataclass
class ProviderEvent:
    provider: str
    delivery_id: str
    event_type: str
    sent_at: datetime | None
    environment_key: str = ""  # what the settings map to an environment ("" = not recorded)
    deployment: dict | None = None  # deployment_record keyword arguments
    note: str = ""
    extra: dict = field(default_factory=dict)


def _list(name: str) -> list[str]:
    value = getattr(settings, name, ()) or ()
    if isinstance(value, str):
        value = value.split(",")
    return [v.strip() for v in value if v and v.strip()]


def environment_map(name: str) -> dict[str, str]:
    value = getattr(settings, name, {}) or {}
    if isinstance(value, str):
        value = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
    return {str(k).strip(): str(v).strip() for k, v in value.items()}


def _fresh(sent_at: datetime, max_age: int, now: float | None = None) -> None:
    now = time.time() if now is None else now
    age = now - sent_at.timestamp()
    if age > max_age:
        raise WebhookRefused(f"Delivery is {int(age)} s old (more than {max_age} s): refused.")
    if age < -max_age:
        raise WebhookRefused("Delivery is timestamped in the future: refused.")


def _json(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deeply
        raise WebhookRefused("The body is not JSON.") from None
    if not isinstance(data, dict):
        raise WebhookRefused("The body is not a JSON object.")
    return data


def _https(url: str) -> str:
    url = (url or "").strip()
    if url and "://" not in url:
        url = f"https://{url}"
    return url


# --- Vercel ---------------------------------------------------------------------------------------
VERCEL_STATUS = {
    "deployment.created": DeploymentStatus.IN_PROGRESS,
    "deployment.succeeded": DeploymentStatus.SUCCESS,
    "deployment.ready": DeploymentStatus.SUCCESS,  # the older name of succeeded
    "deployment.error": DeploymentStatus.FAILURE,
    "deployment.canceled": DeploymentStatus.CANCELLED,
    "deployment.promoted": DeploymentStatus.SUCCESS,
}
GIT_PROVIDERS = ("github", "gitlab", "bitbucket")


def vercel_signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def vercel_verify(body: bytes, signature: str) -> None:
    secrets = _list("VERCEL_WEBHOOK_SECRETS")
    if not secrets:
        raise NotConfigured("Vercel webhooks are not configured (VERCEL_WEBHOOK_SECRETS).")
    given = (signature or "").strip().lower()
    if not given:
        raise WebhookRefused("Missing x-vercel-signature.")
    # Several secrets: one per Vercel team, or the old and the new one while rotating.
    if not any(hmac.compare_digest(vercel_signature(body, s), given) for s in secrets):
        raise WebhookRefused("Invalid x-vercel-signature.")


def vercel_event(body: bytes, signature: str, *, now: float | None = None) -> ProviderEvent:
    """Verify and read a Vercel delivery (raises :class:`WebhookRefused`)."""
    vercel_verify(body, signature)
    data = _json(body)
    delivery_id, event_type = str(data.get("id") or ""), str(data.get("type") or "")
    created = data.get("createdAt")
    if not delivery_id or not event_type or not isinstance(created, int | float):
        raise WebhookRefused("Not a Vercel webhook delivery (id, type, createdAt).")
    sent_at = datetime.fromtimestamp(created / 1000, tz=UTC)
    _fresh(sent_at, settings.VERCEL_WEBHOOK_MAX_AGE, now)
    event = ProviderEvent(Provider.VERCEL, delivery_id, event_type, sent_at)
    status = VERCEL_STATUS.get(event_type)
    payload = data.get("payload") if isinstance(data.get("payload"), dict) else {}
    deployment = payload.get("deployment") if isinstance(payload.get("deployment"), dict) else {}
    if status is None or not deployment.get("id"):
        event.note = f"{event_type} is not a deployment event the ledger records."
        return event
    project_id = str((payload.get("project") or {}).get("id") or "")
    target = payload.get("target") or "preview"
    if event_type == "deployment.promoted":
        target = "production"
    event.environment_key = _vercel_environment_key(project_id, target)
    meta = deployment.get("meta") if isinstance(deployment.get("meta"), dict) else {}
    sha = next((meta.get(f"{g}CommitSha") for g in GIT_PROVIDERS if meta.get(f"{g}CommitSha")), "")
    ref = next((meta.get(f"{g}CommitRef") for g in GIT_PROVIDERS if meta.get(f"{g}CommitRef")), "")
    if not sha:
        event.note = "The deployment carries no commit SHA (a CLI deploy outside git)."
        event.environment_key = ""
        return event
    links = payload.get("links") if isinstance(payload.get("links"), dict) else {}
    event.deployment = {
        "provider": Provider.VERCEL,
        "external_id": str(deployment["id"]),
        "sha": str(sha),
        "ref": str(ref),
        "url": _https(str(deployment.get("url") or "")),
        "status": status,
        "at": sent_at,
        "links": {k: str(v) for k, v in links.items() if k in ("deployment", "project") and v},
        "source": Source.VERCEL_WEBHOOK,
    }
    return event


def _vercel_environment_key(project_id: str, target: str) -> str:
    mapping = environment_map("VERCEL_PROJECTS")
    for key in (f"{project_id}:{target}", project_id):
        if key in mapping:
            return mapping[key]
    return ""


# --- Render ---------------------------------------------------------------------------------------
RENDER_EVENT_STATUS = {"succeeded": "success", "failed": "failure", "canceled": "cancelled"}
RENDER_DEPLOY_STATUS = {
    "created": DeploymentStatus.QUEUED,
    "queued": DeploymentStatus.QUEUED,
    "build_in_progress": DeploymentStatus.IN_PROGRESS,
    "update_in_progress": DeploymentStatus.IN_PROGRESS,
    "pre_deploy_in_progress": DeploymentStatus.IN_PROGRESS,
    "live": DeploymentStatus.SUCCESS,
    "deactivated": DeploymentStatus.SUCCESS,  # was live, replaced by a later deploy
    "build_failed": DeploymentStatus.FAILURE,
    "update_failed": DeploymentStatus.FAILURE,
    "pre_deploy_failed": DeploymentStatus.FAILURE,
    "canceled": DeploymentStatus.CANCELLED,
}
RENDER_DEPLOY_EVENTS = ("deploy_started", "deploy_ended")
RENDER_API_TIMEOUT = 5  # seconds per call; Render wants an answer within 15 s
MAX_API_BODY = 1024 * 1024


def render_signature(webhook_id: str, timestamp: str, body: bytes, secret: str) -> str:
    key = secret.removeprefix("whsec_")
    try:
        key_bytes = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        key_bytes = key.encode()
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key_bytes, signed, hashlib.sha256).digest()).decode()


def render_verify(body: bytes, headers, *, now: float | None = None) -> tuple[str, datetime]:
    secrets = _list("RENDER_WEBHOOK_SECRETS")
    if not secrets:
        raise NotConfigured("Render webhooks are not configured (RENDER_WEBHOOK_SECRETS).")
    webhook_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (webhook_id and stamp and signatures):
        raise WebhookRefused("Missing webhook-id, webhook-timestamp or webhook-signature.")
    try:
        sent_at = datetime.fromtimestamp(int(stamp), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookRefused("webhook-timestamp is not a Unix time.") from None
    _fresh(sent_at, settings.RENDER_WEBHOOK_TOLERANCE, now)
    given = [s.partition(",")[2] for s in signatures.split() if s.startswith("v1,")]
    for secret in secrets:
        expected = render_signature(webhook_id, stamp, body, secret)
        if any(hmac.compare_digest(expected, g) for g in given):
            return webhook_id, sent_at
    raise WebhookRefused("Invalid webhook-signature.")


def render_api_get(path: str) -> dict:
    """GET Render's API (``RENDER_API_URL`` + path) with ``RENDER_API_KEY``; JSON or raise.

    Plain ``http.client`` on purpose: the URL is the operator's setting, not user input, and no
    redirect is followed, so the key only ever goes to that host.
    """
    key = getattr(settings, "RENDER_API_KEY", "")
    if not key:
        raise ProviderUnavailable("RENDER_API_KEY is not set: the deploy cannot be looked up.")
    parts = urlsplit(settings.RENDER_API_URL.rstrip("/") + path)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderUnavailable("RENDER_API_URL is not an http(s) URL.")
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=RENDER_API_TIMEOUT)
    try:
        conn.request(
            "GET",
            parts.path + (f"?{parts.query}" if parts.query else ""),
            headers={
                "Authorization": f"Bearer {key}",
                "Accept": "application/json",
                "User-Agent": "opsportal-deployments/1",
            },
        )
        response = conn.getresponse()
        body = response.read(MAX_API_BODY)
    except (OSError, http.client.HTTPException) as exc:
        raise ProviderUnavailable(f"Render's API did not answer ({type(exc).__name__}).") from None
    finally:
        conn.close()
    if response.status != 200:
        raise ProviderUnavailable(f"Render's API answered {response.status} for {parts.path}.")
    try:
        data = json.loads(body)
    except ValueError:
        raise ProviderUnavailable("Render's API did not answer with JSON.") from None
    if not isinstance(data, dict):
        raise ProviderUnavailable("Render's API did not answer with a JSON object.")
    return data


def render_event(body: bytes, headers, *, now: float | None = None, api=None) -> ProviderEvent:
    """Verify and read a Render delivery; a deploy event is completed from Render's API."""
    webhook_id, sent_at = render_verify(body, headers, now=now)
    data = _json(body)
    event_type = str(data.get("type") or "")
    details = data.get("data") if isinstance(data.get("data"), dict) else {}
    event = ProviderEvent(Provider.RENDER, webhook_id, event_type, sent_at)
    if event_type not in RENDER_DEPLOY_EVENTS:
        event.note = f"{event_type or 'this event'} is not a deploy event the ledger records."
        return event
    service_id = str(details.get("serviceId") or "")
    environment_key = environment_map("RENDER_SERVICES").get(service_id, "")
    if not environment_key:
        event.note = f"Render service {service_id or '?'} is not mapped to an environment."
        return event
    event.environment_key = environment_key
    api = api or render_api_get
    event_id = str(details.get("id") or "")
    if not event_id:
        raise WebhookRefused("A Render deploy event without its event id (data.id).")
    info = api(f"/events/{quote(event_id, safe='')}")
    deploy_id = str(((info or {}).get("details") or {}).get("deployId") or "")
    if not deploy_id:
        raise ProviderUnavailable(f"Render's event {event_id} names no deploy.")
    deploy = api(f"/services/{quote(service_id, safe='')}/deploys/{quote(deploy_id, safe='')}")
    commit = deploy.get("commit") if isinstance(deploy.get("commit"), dict) else {}
    if not commit.get("id"):
        event.note = "An image-backed Render deploy: no commit SHA to record."
        event.environment_key = ""
        return event
    if event_type == "deploy_started":
        status = DeploymentStatus.IN_PROGRESS
    else:
        status = RENDER_EVENT_STATUS.get(str(details.get("status") or "").lower()) or (
            RENDER_DEPLOY_STATUS.get(str(deploy.get("status") or ""), DeploymentStatus.FAILURE)
        )
    event_at = parse_datetime(str(data.get("timestamp") or "")) or sent_at
    commit_time = parse_datetime(str(commit.get("createdAt") or "")) if commit else None
    event.deployment = {
        "provider": Provider.RENDER,
        "external_id": deploy_id,
        "sha": str(commit["id"]),
        "status": status,
        "at": event_at,
        "commit_time": commit_time,
        "links": {
            "dashboard": f"https://dashboard.render.com/web/{service_id}/deploys/{deploy_id}"
        },
        "source": Source.RENDER_WEBHOOK,
    }
    if status != DeploymentStatus.IN_PROGRESS and deploy.get("createdAt"):
        event.deployment["started_at"] = parse_datetime(str(deploy["createdAt"]))
    return event
