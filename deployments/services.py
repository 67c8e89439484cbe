"""Every write to the deployment ledger.

``deployment_record`` is the one way a deployment enters or moves: the API, the Vercel and Render
webhooks, the demo data and the pages all call it. It is idempotent on the provider's external
id: the same ``(environment, provider, external_id)`` recorded again updates the row (a new
status, a URL, links) instead of adding one, and that holds under concurrent duplicate posts: a
partial unique constraint refuses the second insert, which then finds and updates the first
row under ``select_for_update``.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from opsportal.accounts.permissions import require
from opsportal.audit.services import record

from .choices import FINISHED, TRANSITIONS, DeploymentStatus, Provider, Source
from .models import Deployment, WebhookDelivery

SHA_RE = re.compile(r"^[0-9a-f]{7,64}$")
EXTERNAL_ID_RE = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, no spaces
MAX_URL = 500
MAX_REF = 255
# Statuses before a deployment ends, in lifecycle order: a provider event for an earlier stage
# arriving after a later one (webhooks are not delivered in order) is stale, not an error.
EARLY = (DeploymentStatus.QUEUED, DeploymentStatus.IN_PROGRESS)


class TransitionError(ValidationError):
    """The status cannot follow the deployment's current one (e.g. failure → success)."""


@dataclass(frozen=True)
class Recorded:
    deployment: Deployment
    created: bool  # a new row (201), or an external id already known (200)
    changed: bool  # anything written (False: the same facts posted again)


def _clean(
    *, sha: str, status: str, ref: str, external_id: str, url: str, provider: str, commit_time
) -> dict:
    errors = {}
    sha = (sha or "").strip().lower()
    if not sha:
        errors["sha"] = "A deployment needs the commit SHA it deployed."
    elif not SHA_RE.match(sha):
        errors["sha"] = "A commit SHA is 7 to 64 hexadecimal characters."
    status = (status or "").strip()
    if status not in DeploymentStatus.values:
        known = ", ".join(DeploymentStatus.values)
        errors["status"] = f"Unknown status {status!r}; one of {known}."
    provider = (provider or "").strip().lower().replace("-", "_") or Provider.OTHER
    if provider not in Provider.values:
        errors["provider"] = f"Unknown provider {provider!r}; one of {', '.join(Provider.values)}."
    external_id = (external_id or "").strip()
    if external_id and not EXTERNAL_ID_RE.match(external_id):
        errors["external_id"] = "An external id is 1 to 200 printable characters, no spaces."
    ref = (ref or "").strip()
    if len(ref) > MAX_REF:
        errors["ref"] = f"A ref is at most {MAX_REF} characters."
    url = (url or "").strip()
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            errors["url"] = "Give an http(s) URL."
        if len(url) > MAX_URL:
            errors["url"] = f"A URL is at most {MAX_URL} characters."
    if commit_time is not None and (
        not isinstance(commit_time, datetime) or timezone.is_naive(commit_time)
    ):
        errors["commit_time"] = "The commit time needs a time zone (e.g. 2025-01-31T09:00:00Z)."
    if errors:
        raise ValidationError(errors)
    return {
        "sha": sha,
        "status": status,
        "ref": ref,
        "external_id": external_id,
        "url": url,
        "provider": provider,
    }


def _token_label(via_token) -> str:
    if via_token is None:
        return ""
    # The API's tokens name themselves "token 12 (ci deploy)", as the audit trail does.
    label = getattr(via_token, "label", "") or f"token {via_token.pk}"
    return str(label).strip()[:100]


def deployment_record(
    *,
    actor,
    environment,
    sha: str,
    status: str,
    ref: str = "",
    external_id: str = "",
    url: str = "",
    provider: str = "",
    commit_time: datetime | None = None,
    via_token=None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    at: datetime | None = None,
    links: dict | None = None,
    source: str = Source.API,
    allow_stale: bool = False,
) -> Recorded:
    """Record a deployment of ``sha`` to ``environment``, or move a known one (same external id).

    ``actor`` is the person (or the owner of ``via_token``) and needs
    ``deployments.add_deployment``; ``None`` is the system, for a webhook whose signature was
    verified. ``at`` is when the provider says it happened (default: now): it becomes
    ``started_at`` when the deployment starts running or is first recorded, ``finished_at``
    when it ends. A status that cannot follow the current one raises :class:`TransitionError`
    — unless ``allow_stale`` (webhooks, delivered out of order) and it is an earlier stage:
    then only an earlier start time is kept.
    """
    if actor is not None:
        require(actor, "deployments.add_deployment", action="record deployments")
    values = _clean(
        sha=sha,
        status=status,
        ref=ref,
        external_id=external_id,
        url=url,
        provider=provider,
        commit_time=commit_time,
    )
    if source not in Source.values:
        raise ValueError(f"unknown source {source!r}")
    at = at or timezone.now()
    facts = {
        **values,
        "commit_time": commit_time,
        "started_at": started_at,
        "finished_at": finished_at,
        "links": links or {},
    }
    # Called inside someone else's transaction (a webhook delivery), a lost race is caught at a
    # savepoint; on its own, the whole transaction is simply tried again (two round trips fewer
    # per deployment, which the API's throughput notices).
    nested = connection.in_atomic_block
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _record_once(
                    actor, environment, facts, at=at, via_token=via_token, source=source,
                    allow_stale=allow_stale, savepoint=nested,
                )  # fmt: skip
        except IntegrityError:
            # Another request inserted the same external id and committed first: the next
            # attempt's select_for_update sees its row and this becomes an update.
            if nested or attempt == 2 or not values["external_id"]:
                raise
    raise AssertionError("unreachable")


def _record_once(
    actor, environment, facts, *, at, via_token, source, allow_stale, savepoint
) -> Recorded:
    def known():
        if not facts["external_id"]:
            return None
        rows = (
            Deployment.objects.select_for_update(of=("self",))  # lock the deployment only
            .select_related("triggered_by")
            .by_external_id(
                environment=environment,
                provider=facts["provider"],
                external_id=facts["external_id"],
            )
            .order_by()[:1]  # unique: no ORDER BY to build or run
        )
        found = next(iter(rows), None)
        if found is not None:
            found.environment = environment  # the same row, already loaded with its project
        return found

    existing = known()
    if existing is None:
        deployment = _new(actor, environment, facts, at=at, via_token=via_token, source=source)
        if savepoint and facts["external_id"]:
            try:
                with transaction.atomic():  # a lost race leaves the caller's transaction usable
                    deployment.save(force_insert=True)
            except IntegrityError:
                existing = known()
                if existing is None:
                    raise
        else:
            deployment.save(force_insert=True)
    if existing is not None:
        return _update(actor, existing, facts, at=at, via_token=via_token, allow_stale=allow_stale)
    record(
        actor=actor,
        action="deployment.recorded",
        target=deployment,
        environment=environment,
        changes=_snapshot(deployment, via_token),
    )
    return Recorded(deployment, created=True, changed=True)


def _new(actor, environment, facts: dict, *, at, via_token, source) -> Deployment:
    status = facts["status"]
    started = facts["started_at"] or at
    finished = None
    if status in FINISHED:
        finished = facts["finished_at"] or at
        started = min(started, finished)
    return Deployment(
        environment=environment,
        provider=facts["provider"],
        external_id=facts["external_id"],
        sha=facts["sha"],
        ref=facts["ref"],
        url=facts["url"],
        status=status,
        started_at=started,
        finished_at=finished,
        commit_time=facts["commit_time"],
        source=source,
        triggered_by=actor,
        via_token_id=via_token.pk if via_token is not None else None,
        via_token_label=_token_label(via_token),
        links=facts["links"],
    )


SNAPSHOT_FIELDS = (
    "provider",
    "external_id",
    "sha",
    "ref",
    "url",
    "status",
    "started_at",
    "finished_at",
    "commit_time",
    "source",
    "links",
)


def _snapshot(deployment: Deployment, via_token=None) -> dict:
    snapshot = {f: getattr(deployment, f) for f in SNAPSHOT_FIELDS}
    if via_token is not None:
        snapshot["via"] = _token_label(via_token)
    return snapshot


def _update(actor, deployment: Deployment, facts: dict, *, at, via_token, allow_stale) -> Recorded:
    current, new = deployment.status, facts["status"]
    if facts["sha"] != deployment.sha:
        raise ValidationError(
            {
                "sha": f"{deployment.provider} deployment {deployment.external_id} is commit "
                f"{deployment.short_sha}; a deployment's commit never changes."
            }
        )
    changes: dict = {}

    def put(field, value):
        if value is not None and value != getattr(deployment, field):
            changes[field] = [getattr(deployment, field), value]
            setattr(deployment, field, value)

    if new != current and new not in TRANSITIONS[current]:
        if allow_stale and new in EARLY:
            # An earlier stage reported late: it can only tell us the deployment began earlier.
            started = facts["started_at"] or at
            if started < deployment.started_at:
                put("started_at", started)
            return _save_update(actor, deployment, changes, via_token)
        raise TransitionError(
            {
                "status": f"A deployment that is {deployment.get_status_display().lower()} "
                f"cannot become {DeploymentStatus(new).label.lower()}."
            }
        )
    if new != current:
        put("status", new)
        if new == DeploymentStatus.IN_PROGRESS:
            put("started_at", facts["started_at"] or at)
        elif new in FINISHED and deployment.finished_at is None:
            finished = facts["finished_at"] or at
            put("finished_at", finished)
            if finished < deployment.started_at:
                put("started_at", finished)
    for field in ("ref", "url", "commit_time"):
        put(field, facts[field] or None)
    if facts["started_at"] is not None:
        put("started_at", facts["started_at"])
    if facts["finished_at"] is not None and deployment.status in FINISHED:
        put("finished_at", facts["finished_at"])
    if facts["links"]:
        put("links", {**deployment.links, **facts["links"]})
    return _save_update(actor, deployment, changes, via_token)


def _save_update(actor, deployment: Deployment, changes: dict, via_token) -> Recorded:
    if not changes:
        return Recorded(deployment, created=False, changed=False)
    deployment.save(update_fields=[*changes, "updated_at"])
    record(
        actor=actor,
        action="deployment.updated",
        target=deployment,
        environment=deployment.environment,
        changes={**changes, "via": _token_label(via_token)} if via_token else changes,
    )
    return Recorded(deployment, created=False, changed=True)


def deployment_mark_rolled_back(*, actor, deployment: Deployment, reason: str) -> Deployment:
    """An operator marks a successful deployment as rolled back (it counts as a failed change)."""
    require(actor, "deployments.change_deployment", action="mark deployments as rolled back")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this deployment was rolled back."})
    with transaction.atomic():
        locked = (
            Deployment.objects.select_for_update()
            .select_related("environment")
            .get(pk=deployment.pk)
        )
        if locked.status != DeploymentStatus.SUCCESS:
            raise TransitionError(
                {
                    "status": f"Only a successful deployment can be rolled back; this one is "
                    f"{locked.get_status_display().lower()}."
                }
            )
        locked.status = DeploymentStatus.ROLLED_BACK
        locked.save(update_fields=["status", "updated_at"])
        record(
            actor=actor,
            action="deployment.rolled_back",
            target=locked,
            environment=locked.environment,
            changes={"status": [DeploymentStatus.SUCCESS, DeploymentStatus.ROLLED_BACK]},
            message=reason,
        )
    return locked


# --- webhooks -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryResult:
    outcome: str  # recorded | updated | unchanged | stale | refused | duplicate | ignored
    deployment: Deployment | None = None


def webhook_delivery_process(
    *,
    provider: str,
    delivery_id: str,
    event_type: str,
    sent_at: datetime | None,
    environment=None,
    deployment: dict | None = None,
) -> DeliveryResult:
    """Act once on a verified webhook delivery: remember its id, record the deployment.

    The delivery row and the deployment change commit together, so a delivery is acted on
    exactly once: a replay (or a provider's retry of a delivery already handled) finds its id
    and changes nothing. ``deployment`` holds ``deployment_record``'s keyword arguments, or
    ``None`` for an event the portal does not record (it is still remembered).
    """
    with transaction.atomic():
        delivery = WebhookDelivery(
            provider=provider,
            delivery_id=delivery_id[:200],
            event_type=event_type[:60],
            sent_at=sent_at,
            outcome="ignored",
        )
        try:
            with transaction.atomic():
                delivery.save(force_insert=True)
        except IntegrityError:
            return DeliveryResult("duplicate")
        if deployment is None or environment is None:
            return DeliveryResult("ignored")
        try:
            with transaction.atomic():
                result = deployment_record(
                    actor=None, environment=environment, allow_stale=True, **deployment
                )
        except TransitionError:
            # A fact the ledger cannot take (a failed deployment reported successful): kept as
            # refused, and acknowledged, so the provider does not retry it for a day.
            delivery.outcome = "refused"
            delivery.save(update_fields=["outcome"])
            return DeliveryResult("refused")
        if result.created:
            outcome = "recorded"
        elif result.changed:
            outcome = "updated"
        elif result.deployment.status != deployment["status"]:
            outcome = "stale"
        else:
            outcome = "unchanged"
        delivery.outcome, delivery.deployment = outcome, result.deployment
        delivery.save(update_fields=["outcome", "deployment"])
    return DeliveryResult(outcome, result.deployment)
