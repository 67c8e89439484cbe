"""Deployments over the JSON API (docs/api.md, docs/deployments.md).

``POST /api/deployments`` records a deployment, or updates the one with the same
``(environment, provider, external_id)``: 201 when it is new, 200 when the external id was
known. ``GET /api/deployments?environment=<project-slug>/<environment-name>`` lists them,
newest first, by cursor. Both go through ``deployments.services`` like the pages and webhooks.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from ninja import Field, Router, Schema, Status

from opsportal.api.auth import scoped
from opsportal.api.pagination import cursor_page, page_of
from opsportal.api.problems import problem
from opsportal.api.scopes import DEPLOYMENTS_WRITE

from . import services
from .choices import DeploymentStatus, Provider
from .lookups import environment_from_path, environment_path
from .models import Deployment

router = Router(tags=["deployments"])


class DeploymentIn(Schema):
    environment: str = Field(description="<project-slug>/<environment-name>, e.g. makalah-ai/prod")
    sha: str = Field(description="The commit deployed: 7 to 64 hex characters")
    status: str = Field(
        DeploymentStatus.SUCCESS,
        description="queued, in_progress, success, failure, cancelled or rolled_back; a known "
        "deployment moves only forward (success → rolled_back is the one move after an end)",
    )
    ref: str = Field("", description="Branch or tag")
    external_id: str = Field(
        "",
        description="The provider's or pipeline's id of this deployment (a CI run id): posting "
        "it again updates the same deployment",
    )
    url: str = ""
    provider: str = Field(Provider.OTHER, description=", ".join(Provider.values))
    commit_time: datetime | None = Field(None, description="When the commit was made (lead time)")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    links: dict[str, str] | None = None


class DeploymentOut(Schema):
    id: int
    environment: str
    provider: str
    external_id: str
    sha: str
    ref: str
    url: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    commit_time: datetime | None
    lead_time_seconds: float | None
    recorded_at: datetime
    source: str
    triggered_by: str | None
    via_token: str
    links: dict


def _out(d: Deployment) -> dict:
    lead = d.lead_time
    return {
        "id": d.pk,
        "environment": environment_path(d.environment),
        "provider": d.provider,
        "external_id": d.external_id,
        "sha": d.sha,
        "ref": d.ref,
        "url": d.url,
        "status": d.status,
        "started_at": d.started_at,
        "finished_at": d.finished_at,
        "commit_time": d.commit_time,
        "lead_time_seconds": lead.total_seconds() if lead is not None else None,
        "recorded_at": d.recorded_at,
        "source": d.source,
        "triggered_by": d.triggered_by.get_username() if d.triggered_by_id else None,
        "via_token": d.via_token_label,
        "links": d.links or {},
    }


@router.post(
    "/deployments",
    auth=scoped(DEPLOYMENTS_WRITE),
    response={200: DeploymentOut, 201: DeploymentOut},
    summary="Record a deployment (idempotent on external_id)",
)
def deployment_record(request, payload: DeploymentIn):
    environment = environment_from_path(payload.environment)
    try:
        result = services.deployment_record(
            actor=request.user,
            environment=environment,
            via_token=request.auth,
            sha=payload.sha,
            status=payload.status,
            ref=payload.ref,
            external_id=payload.external_id,
            url=payload.url,
            provider=payload.provider,
            commit_time=payload.commit_time,
            started_at=payload.started_at,
            finished_at=payload.finished_at,
            links=payload.links,
        )
    except services.TransitionError as exc:
        return problem(
            request,
            409,
            code="conflict",
            detail="The deployment cannot move to that status.",
            errors=_errors(exc),
        )
    return Status(201 if result.created else 200, _out(result.deployment))


def _errors(exc: ValidationError) -> list[dict]:
    return [
        {"field": field, "message": message}
        for field, messages in exc.message_dict.items()
        for message in messages
    ]


@router.get("/deployments", response=page_of(DeploymentOut), summary="List deployments")
def deployment_list(
    request,
    environment: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
):
    """Newest recorded first. ``environment=<project-slug>/<environment-name>`` keeps one
    environment's; without it, every environment's."""
    qs = Deployment.objects.with_related()
    if environment:
        qs = qs.filter(environment=environment_from_path(environment))
    if status:
        qs = qs.filter(status=status)
    page = cursor_page(qs, cursor=cursor, limit=limit)
    return {"items": [_out(d) for d in page["items"]], "next": page["next"]}
