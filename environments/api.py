"""Environments over the JSON API (docs/api.md): projects, environments, the inventory, hygiene,
change requests, the health gate and env imports.

A secret's value never leaves here: the inventory shows a secret's kind, hint and a short
fingerprint; change requests show their public form (``payloads.public_change``). Writes go
through the same services as the pages and ``env_import``.
"""

from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404
from ninja import Field, Router, Schema, Status

from opsportal.accounts.permissions import require
from opsportal.api.auth import scoped
from opsportal.api.pagination import cursor_page, page_of
from opsportal.api.problems import problem

from . import hygiene, parsers, services
from .choices import ChangeRequestStatus, Severity, ValueKind
from .models import ChangeRequest, ConfigVar, Environment, Project
from .payloads import public_change

router = Router(tags=["environments"])

FINGERPRINT_SHOWN = 16


# --- lookups ------------------------------------------------------------------------------------
def project_at(slug: str) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise Http404(f"No project with the slug {slug!r}.")
    return project


def environment_at(project_slug: str, name: str) -> Environment:
    """The environment ``<project-slug>/<environment-name>`` (the name matched exactly, then
    case-insensitively, as ``env_import`` does)."""
    qs = Environment.objects.select_related("project").filter(project__slug=project_slug)
    env = qs.filter(name=name).first() or qs.filter(name__iexact=name).first()
    if env is None:
        raise Http404(f"No environment {project_slug}/{name}.")
    return env


def environment_named(path: str) -> Environment:
    """``"<project-slug>/<environment-name>"`` as query and body fields write it."""
    slug, sep, name = (path or "").partition("/")
    if not sep or not slug or not name:
        raise Http404(f"{path!r} is not <project-slug>/<environment-name>.")
    return environment_at(slug, name)


def env_path(env: Environment) -> str:
    return f"{env.project.slug}/{env.name}"


# --- schemas ------------------------------------------------------------------------------------
class DeploymentTargetOut(Schema):
    provider: str
    identifier: str
    url: str


class EnvironmentOut(Schema):
    id: int
    path: str = Field(description="<project-slug>/<environment-name>, as other endpoints take it")
    project: str
    name: str
    tier: str
    branch: str
    url: str
    protected: bool
    maintenance_window: str
    deployments: list[DeploymentTargetOut]


class ProjectOut(Schema):
    id: int
    slug: str
    name: str
    description: str
    environments: list[str]


class VariableOut(Schema):
    key: str
    is_secret: bool
    required: bool
    has_value: bool
    value: str | None = Field(
        None, description="Only for public variables; a secret's value is never stored"
    )
    kind: str
    kind_label: str
    hint: str = Field(description="A secret's last characters at most (masked)")
    fingerprint: str = Field(description="Short keyed fingerprint: equal values, equal prints")
    description: str
    owner: str
    source: str
    rotation_period_days: int | None
    last_rotated_at: datetime | None
    rotation_due_at: datetime | None
    updated_at: datetime


class FindingOut(Schema):
    severity: str
    rule: str
    key: str
    message: str
    environment: str


class CheckOut(Schema):
    target: str = Field(description="<project-slug> or <project-slug>/<environment-name>")
    passed: bool = Field(description="No finding of severity error")
    errors: int
    warnings: int
    findings: list[FindingOut]


class CheckProblem(Schema):
    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str
    target: str
    passed: bool
    errors: int
    warnings: int
    findings: list[FindingOut]


class ChangeRequestOut(Schema):
    id: int
    environment: str
    kind: str
    status: str
    summary: str
    reason: str
    author: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str
    changes: list[dict] = Field(description="Each variable change in public form (no secret)")


class ImportIn(Schema):
    text: str = Field(description="The file's content (.env, `vercel env pull`, JSON …)")
    format: str = Field("auto", description="auto, or one of the shapes env_import reads")
    filename: str = ""
    dry_run: bool = Field(True, description="Preview only (the default); false applies")
    remove_missing: bool = False
    secret_keys: list[str] = []
    public_keys: list[str] = []
    keep_tool_vars: bool = False
    reason: str = ""


class ImportOut(Schema):
    environment: str
    read_as: str
    format: str
    dry_run: bool
    applied: bool
    change_request: int | None = Field(
        None, description="Protected environment: the change request waiting for an approver"
    )
    summary: str
    added: list[dict]
    changed: list[dict]
    removed: list[dict]
    unchanged: list[dict]
    skipped: list[dict]
    warnings: list[dict]


# --- serialisers --------------------------------------------------------------------------------
def environment_out(env: Environment) -> dict:
    return {
        "id": env.pk,
        "path": env_path(env),
        "project": env.project.slug,
        "name": env.name,
        "tier": env.tier,
        "branch": env.branch,
        "url": env.url,
        "protected": env.protected,
        "maintenance_window": env.maintenance_window,
        "deployments": [
            {"provider": d.provider, "identifier": d.identifier, "url": d.url}
            for d in env.deployments.all()
        ],
    }


def variable_out(var: ConfigVar) -> dict:
    kind = var.value_kind or ""
    return {
        "key": var.key,
        "is_secret": var.is_secret,
        "required": var.required,
        "has_value": var.has_value,
        "value": None if var.is_secret or not var.has_value else var.value,
        "kind": kind,
        "kind_label": ValueKind(kind).label if kind in ValueKind.values else kind,
        "hint": var.hint if var.is_secret else "",
        "fingerprint": (var.fingerprint or "")[:FINGERPRINT_SHOWN],
        "description": var.description,
        "owner": var.owner,
        "source": var.source,
        "rotation_period_days": var.rotation_period_days,
        "last_rotated_at": var.last_rotated_at,
        "rotation_due_at": var.rotation_due_at(),
        "updated_at": var.updated_at,
    }


def change_request_out(cr: ChangeRequest) -> dict:
    return {
        "id": cr.pk,
        "environment": env_path(cr.environment),
        "kind": cr.kind,
        "status": cr.status,
        "summary": cr.summary,
        "reason": cr.reason,
        "author": cr.author.get_username(),
        "created_at": cr.created_at,
        "decided_by": cr.decided_by.get_username() if cr.decided_by else None,
        "decided_at": cr.decided_at,
        "decision_reason": cr.decision_reason,
        "changes": [public_change(op) for op in (cr.payload or {}).get("vars", [])],
    }


def check_out(target: str, findings) -> dict:
    errors = sum(f.severity == Severity.ERROR for f in findings)
    return {
        "target": target,
        "passed": errors == 0,
        "errors": errors,
        "warnings": sum(f.severity == Severity.WARNING for f in findings),
        "findings": [f.as_dict() for f in findings],
    }


def _environments():
    return Environment.objects.select_related("project").prefetch_related("deployments")


# --- reads --------------------------------------------------------------------------------------
@router.get("/projects", response=page_of(ProjectOut), summary="Projects")
def project_list(request, cursor: str | None = None, limit: int = 50):
    require(request.user, "environments.view_project", action="view projects")
    qs = Project.objects.prefetch_related(
        Prefetch("environments", queryset=Environment.objects.order_by("name"))
    )
    page = cursor_page(qs, cursor=cursor, limit=limit)
    page["items"] = [
        {
            "id": p.pk,
            "slug": p.slug,
            "name": p.name,
            "description": p.description,
            "environments": [e.name for e in p.environments.all()],
        }
        for p in page["items"]
    ]
    return page


@router.get("/projects/{project_slug}", response=ProjectOut, summary="A project")
def project_detail(request, project_slug: str):
    require(request.user, "environments.view_project", action="view projects")
    p = project_at(project_slug)
    return {
        "id": p.pk,
        "slug": p.slug,
        "name": p.name,
        "description": p.description,
        "environments": list(p.environments.order_by("name").values_list("name", flat=True)),
    }


@router.get(
    "/projects/{project_slug}/environments",
    response=list[EnvironmentOut],
    summary="A project's environments",
)
def environment_list(request, project_slug: str):
    require(request.user, "environments.view_environment", action="view environments")
    project = project_at(project_slug)
    return [environment_out(e) for e in _environments().filter(project=project).order_by("name")]


@router.get(
    "/projects/{project_slug}/hygiene",
    response=CheckOut,
    summary="Hygiene findings of every environment of a project",
)
def project_hygiene(request, project_slug: str):
    require(request.user, "environments.view_configvar", action="view the inventory")
    project = project_at(project_slug)
    return check_out(project.slug, hygiene.check_project(project))


@router.get(
    "/environments/{project_slug}/{environment_name}",
    response=EnvironmentOut,
    summary="An environment",
)
def environment_detail(request, project_slug: str, environment_name: str):
    require(request.user, "environments.view_environment", action="view environments")
    env = environment_at(project_slug, environment_name)
    return environment_out(_environments().get(pk=env.pk))


@router.get(
    "/environments/{project_slug}/{environment_name}/variables",
    response=list[VariableOut],
    summary="An environment's inventory (never a secret's value)",
)
def variable_list(request, project_slug: str, environment_name: str):
    require(request.user, "environments.view_configvar", action="view the inventory")
    env = environment_at(project_slug, environment_name)
    return [variable_out(v) for v in env.variables.order_by("key")]


@router.get(
    "/change-requests",
    response=page_of(ChangeRequestOut),
    summary="Change requests, newest first",
)
def change_request_list(
    request,
    status: Literal["pending", "applied", "rejected", "withdrawn", "stale", "superseded"]
    | None = None,
    environment: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
):
    require(request.user, "environments.view_changerequest", action="view change requests")
    qs = ChangeRequest.objects.select_related("environment__project", "author", "decided_by")
    if status:
        qs = qs.filter(status=ChangeRequestStatus(status))
    if environment:
        qs = qs.filter(environment=environment_named(environment))
    page = cursor_page(qs, cursor=cursor, limit=limit)
    page["items"] = [change_request_out(cr) for cr in page["items"]]
    return page


@router.get(
    "/change-requests/{change_request_id}", response=ChangeRequestOut, summary="A change request"
)
def change_request_detail(request, change_request_id: int):
    require(request.user, "environments.view_changerequest", action="view change requests")
    cr = (
        ChangeRequest.objects.select_related("environment__project", "author", "decided_by")
        .filter(pk=change_request_id)
        .first()
    )
    if cr is None:
        raise Http404(f"No change request #{change_request_id}.")
    return change_request_out(cr)


# --- env_check and the CI health gate -----------------------------------------------------------
@router.get(
    "/projects/{project_slug}/check",
    auth=scoped("env:check"),
    response=CheckOut,
    summary="env_check of a project: findings and pass/fail (always 200)",
)
def project_check(request, project_slug: str):
    """What ``manage.py env_check --json`` reports; ``passed`` is false when any finding is an
    error."""
    require(request.user, "environments.view_configvar", action="view the inventory")
    project = project_at(project_slug)
    return check_out(project.slug, hygiene.check_project(project))


@router.get(
    "/environments/{project_slug}/{environment_name}/check",
    auth=scoped("env:check"),
    response={200: CheckOut, 409: CheckProblem},
    summary="The CI health gate: 200 when the configuration has no error, 409 when it has",
)
def environment_check(request, project_slug: str, environment_name: str):
    """Hygiene of one environment, compared with its project's other environments (shared
    secrets, a production URL naming a dev deployment…). Warnings do not fail the gate."""
    require(request.user, "environments.view_configvar", action="view the inventory")
    env = environment_at(project_slug, environment_name)
    result = check_out(env_path(env), hygiene.check_environment(env))
    if result["passed"]:
        return Status(200, result)
    return problem(
        request,
        409,
        code="environment-unhealthy",
        title="The environment's configuration has errors",
        detail=f"{result['errors']} hygiene error(s) in {env_path(env)}.",
        **result,
    )


# --- import -------------------------------------------------------------------------------------
@router.post(
    "/environments/{project_slug}/{environment_name}/import",
    auth=scoped("env:import"),
    response={200: ImportOut, 202: ImportOut},
    summary="Import an env file: dry run (default) or apply; 202 = a change request was created",
)
def environment_import(request, project_slug: str, environment_name: str, payload: ImportIn):
    """The page's and ``env_import``'s import: ``services.import_plan`` then, unless
    ``dry_run``, ``services.env_import_apply`` — which on a protected environment creates a change
    request for another person to approve (202). The answer holds the public form of the plan
    only (kinds, hints, short fingerprints), never a value from the file."""
    require(request.user, "environments.change_configvar", action="import variables")
    env = environment_at(project_slug, environment_name)
    if payload.format not in parsers.FORMATS:
        raise ValidationError(
            {"format": f"Unknown format; choose one of: {', '.join(parsers.FORMATS)}."}
        )
    plan = services.import_plan(
        environment=env,
        text=payload.text,
        fmt=payload.format,
        filename=payload.filename,
        remove_missing=payload.remove_missing,
        secret_keys=payload.secret_keys,
        public_keys=payload.public_keys,
        keep_tool_vars=payload.keep_tool_vars,
    )
    result = None
    if not payload.dry_run and plan.has_changes:
        result = services.env_import_apply(
            actor=request.user, environment=env, plan=plan, reason=payload.reason
        )
    data = plan.as_dict()
    out = {
        "environment": env_path(env),
        "read_as": plan.read_as,
        "format": plan.fmt,
        "dry_run": payload.dry_run,
        "applied": bool(result and result.applied),
        "change_request": result.change_request.pk if result and result.change_request else None,
        "summary": result.summary if result else ("dry run" if payload.dry_run else "no change"),
        **{k: data[k] for k in ("added", "changed", "removed", "unchanged", "skipped", "warnings")},
    }
    return Status(202 if out["change_request"] else 200, out)
