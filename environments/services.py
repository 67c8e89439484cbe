"""Every write to projects, environments, the variable inventory and change requests.

Changes are expressed as a *payload* in public form (a secret is its fingerprint, kind and
hint, never its value). ``_submit`` applies a payload at once on an unprotected environment or
stores it in a :class:`ChangeRequest` on a protected one; approving the request applies the same
payload. So a secret value never reaches the database, a change request or an audit row.
"""

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from opsportal import credentials
from opsportal.accounts.permissions import require
from opsportal.audit.services import record

from . import parsers
from .choices import ChangeKind, ChangeRequestStatus, Provider, Tier
from .importing import ImportPlan, import_plan  # noqa: F401 (re-exported: services is the API)
from .models import (
    ChangeRequest,
    ConfigVar,
    Environment,
    Project,
    ProviderDeployment,
    touched_by,
    touched_label,
)
from .payloads import (  # noqa: F401 (re-exported for callers and tests)
    META_FIELDS,
    SNAPSHOT_FIELDS,
    STATE_FIELDS,
    _same_value,
    enforce_secret,
    public_change,
    snapshot,
    value_state,
)

SETTINGS_FIELDS = ("name", "tier", "branch", "url", "protected", "maintenance_window", "notes")


# --- Projects and environments -------------------------------------------------------------------
def project_create(*, actor, name: str, slug: str = "", description: str = "") -> Project:
    require(actor, "environments.add_project", action="create projects")
    name = name.strip()
    slug = (slug or slugify(name.replace(".", "-"))).strip()
    if not name:
        raise ValidationError("A project needs a name.")
    if not slug:
        raise ValidationError(
            {"slug": f"No URL slug can be made from {name!r}: give one (letters, digits, -)."}
        )
    if Project.objects.filter(name__iexact=name).exists():
        raise ValidationError(f"A project named {name!r} already exists.")
    if Project.objects.filter(slug=slug).exists():
        raise ValidationError(f"A project with the slug {slug!r} already exists.")
    with transaction.atomic():
        project = Project(name=name, slug=slug, description=description)
        project.save()
        record(
            actor=actor,
            action="project.created",
            target=project,
            changes={"name": name, "slug": slug, "description": description},
        )
    return project


def project_update(*, actor, project: Project, name: str, description: str) -> Project:
    require(actor, "environments.change_project", action="edit projects")
    name = name.strip()
    if not name:
        raise ValidationError("A project needs a name.")
    if Project.objects.filter(name__iexact=name).exclude(pk=project.pk).exists():
        raise ValidationError(f"A project named {name!r} already exists.")
    changes = {
        f: [getattr(project, f), v]
        for f, v in (("name", name), ("description", description))
        if getattr(project, f) != v
    }
    if not changes:
        return project
    with transaction.atomic():
        project.name, project.description = name, description
        project.save(update_fields=["name", "description"])
        record(actor=actor, action="project.updated", target=project, changes=changes)
    return project


def tier_from_name(name: str) -> str:
    lowered = name.strip().lower()
    if lowered in ("prod", "production", "live"):
        return Tier.PRODUCTION
    if lowered.startswith("preview"):
        return Tier.PREVIEW
    if lowered in ("staging", "stage", "stg"):
        return Tier.STAGING
    return Tier.DEVELOPMENT


PRODUCTION_PROTECTED = (
    "A production environment is always protected: its changes need a second person's approval."
)


def _require_protected_production(tier: str, protected: bool) -> None:
    if tier == Tier.PRODUCTION and not protected:
        raise ValidationError({"protected": PRODUCTION_PROTECTED})


def _validate_settings(values: dict) -> None:
    if "name" in values and not str(values["name"]).strip():
        raise ValidationError("An environment needs a name.")
    if "tier" in values and values["tier"] not in Tier.values:
        raise ValidationError(f"Unknown tier {values['tier']!r}; choose one of {Tier.values}.")
    if values.get("url"):
        from django.core.validators import URLValidator

        URLValidator()(values["url"])


def environment_create(
    *,
    actor,
    project: Project,
    name: str,
    tier: str = "",
    branch: str = "",
    url: str = "",
    protected: bool | None = None,
    maintenance_window: str = "",
    notes: str = "",
) -> Environment:
    """Create an environment; production ones are always protected."""
    require(actor, "environments.add_environment", action="create environments")
    name = name.strip()
    tier = tier or tier_from_name(name)
    values = {"name": name, "tier": tier, "url": url}
    _validate_settings(values)
    if project.environments.filter(name__iexact=name).exists():
        raise ValidationError(f"{project.name} already has an environment named {name!r}.")
    if protected is None:
        protected = tier == Tier.PRODUCTION
    _require_protected_production(tier, protected)
    with transaction.atomic():
        env = Environment(
            project=project,
            name=name,
            tier=tier,
            branch=branch,
            url=url,
            protected=protected,
            maintenance_window=maintenance_window,
            notes=notes,
        )
        env.save()
        record(
            actor=actor,
            action="environment.created",
            target=env,
            environment=env,
            changes={f: getattr(env, f) for f in SETTINGS_FIELDS},
        )
    return env


@dataclass
class SubmitResult:
    applied: bool
    change_request: ChangeRequest | None = None
    summary: str = ""
    counts: dict = field(default_factory=dict)


_OP_PERMS = {
    "create": ("environments.add_configvar", "add variables"),
    "update": ("environments.change_configvar", "change variables"),
    "rotate": ("environments.change_configvar", "rotate variables"),
    "delete": ("environments.delete_configvar", "delete variables"),
}


def _required_perms(kind: str, payload: dict) -> list[tuple[str, str]]:
    """Every permission the payload needs, the same ones the pages ask for."""
    perms = []
    if kind == ChangeKind.SETTINGS or payload.get("settings") or payload.get("deployments"):
        perms.append(("environments.change_environment", "change environment settings"))
    if kind in (ChangeKind.IMPORT, ChangeKind.VARIABLES, ChangeKind.ROTATION):
        perms.append(("environments.change_configvar", "change variables"))
    for op in payload.get("vars", []):
        if _OP_PERMS[op["op"]] not in perms:
            perms.append(_OP_PERMS[op["op"]])
    return perms


def _same_state(current: dict | None, before: dict | None) -> bool:
    """Every recorded field, not only the value: an op writes its whole ``after`` state, so a
    field changed since (say the owner, by another approved request) would be silently undone."""
    if current is None or before is None:
        return current is before
    return all(current[f] == before.get(f) for f in SNAPSHOT_FIELDS)


def _check_fresh(environment: Environment, payload: dict) -> None:
    """Refuse a payload computed against a state that has since changed."""
    current = {v.key: v for v in environment.variables.all()}
    stale = [
        op["key"]
        for op in payload.get("vars", [])
        if not _same_state(snapshot(current.get(op["key"])), op.get("before"))
    ]
    if stale:
        raise ValidationError(
            "The environment changed since this change was prepared (variables: "
            f"{', '.join(sorted(stale)[:10])}). Prepare it again."
        )
    before = payload.get("settings", {}).get("before", {})
    drifted = [f for f, v in before.items() if getattr(environment, f) != v]
    if drifted:
        raise ValidationError(
            "The environment settings changed since this change was prepared "
            f"({', '.join(drifted)})."
        )


def _apply(
    *,
    actor,
    environment: Environment,
    payload: dict,
    job_id=None,
    on_behalf_of=None,
    change_request: ChangeRequest | None = None,
):
    """Apply a payload; the caller holds the transaction. Audits every variable change; a change
    request's events name it and its author (the audit page links them), with its reason."""
    _check_fresh(environment, payload)
    via, reason = {}, ""
    if change_request is not None:
        via = {"change_request": change_request.pk, "author": change_request.author.get_username()}
        reason = change_request.reason
    now = timezone.now()
    counts = {"created": 0, "updated": 0, "deleted": 0, "rotated": 0}
    existing = {v.key: v for v in environment.variables.all()}
    for op in payload.get("vars", []):
        key = op["key"]
        var = existing.get(key)
        after = op.get("after")
        var_id = var.pk if var is not None else None
        if after is None:
            if var is not None:
                var.delete()
            action, counts["deleted"] = "configvar.deleted", counts["deleted"] + 1
        else:
            after = enforce_secret(key, after)
            op = {**op, "after": after}
            if var is None:
                var = ConfigVar(environment=environment, key=key)
                action, counts["created"] = "configvar.created", counts["created"] + 1
            elif op["op"] == "rotate":
                action, counts["rotated"] = "configvar.rotated", counts["rotated"] + 1
            else:
                action, counts["updated"] = "configvar.updated", counts["updated"] + 1
            for f in SNAPSHOT_FIELDS:
                if f in after:
                    setattr(var, f, after[f])
            if op["op"] == "rotate":
                var.last_rotated_at = now
            if var.pk is None:
                var.save()
            else:
                var.save(update_fields=[*SNAPSHOT_FIELDS, "last_rotated_at", "updated_at"])
        record(
            actor=actor,
            action=action,
            target=None,
            target_type="environments.configvar",
            target_id=var.pk or var_id or "",
            target_repr=f"{environment} / {key}",
            environment=environment,
            changes={**public_change(op), **via},
            secret_keys={"value"} if (after or op.get("before") or {}).get("is_secret") else (),
            message=reason,
            job_id=job_id,
            on_behalf_of=on_behalf_of,
        )
    settings_after = payload.get("settings", {}).get("after", {})
    if settings_after:
        for f, v in settings_after.items():
            setattr(environment, f, v)
        # Also for a request prepared before the rule, or racing another one: refuse, roll back.
        _require_protected_production(environment.tier, environment.protected)
        environment.save(update_fields=list(settings_after))
        record(
            actor=actor,
            action="environment.updated",
            target=environment,
            environment=environment,
            changes={
                **{f: [payload["settings"]["before"].get(f), v] for f, v in settings_after.items()},
                **via,
            },
            message=reason,
        )
    for dep in payload.get("deployments", []):
        if dep["op"] == "add":
            ProviderDeployment.objects.get_or_create(
                environment=environment,
                provider=dep["provider"],
                identifier=dep["identifier"],
                defaults={"url": dep.get("url", "")},
            )
            action = "environment.deployment.added"
        else:
            ProviderDeployment.objects.filter(
                environment=environment, provider=dep["provider"], identifier=dep["identifier"]
            ).delete()
            action = "environment.deployment.removed"
        record(
            actor=actor,
            action=action,
            target=environment,
            environment=environment,
            changes={**{k: dep.get(k, "") for k in ("provider", "identifier", "url")}, **via},
            message=reason,
        )
    return counts


def _summarise(payload: dict) -> str:
    ops = payload.get("vars", [])
    parts = []
    for name, verb in (
        ("create", "add"),
        ("update", "change"),
        ("rotate", "rotate"),
        ("delete", "remove"),
    ):
        keys = [op["key"] for op in ops if op["op"] == name]
        if keys:
            shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
            parts.append(f"{verb} {shown}")
    if payload.get("settings", {}).get("after"):
        parts.append("settings: " + ", ".join(payload["settings"]["after"]))
    for dep in payload.get("deployments", []):
        parts.append(f"{dep['op']} deployment {dep['provider']} {dep['identifier']}")
    return "; ".join(parts)[:300] or "no change"


def _submit(
    *,
    actor,
    environment: Environment,
    kind: str,
    payload: dict,
    reason: str = "",
    audit_action: str = "",
) -> SubmitResult:
    for perm, what in _required_perms(kind, payload):
        require(actor, perm, action=what)
    if not (
        payload.get("vars")
        or payload.get("settings", {}).get("after")
        or payload.get("deployments")
    ):
        raise ValidationError("Nothing to change.")
    summary = _summarise(payload)
    public = {
        "vars": [public_change(op) for op in payload.get("vars", [])],
        "settings": payload.get("settings", {}),
        "deployments": payload.get("deployments", []),
    }
    with transaction.atomic():
        env = Environment.objects.select_for_update().get(pk=environment.pk)
        if env.protected:
            require(
                actor,
                "environments.add_changerequest",
                action="request changes to protected environments",
            )
            cr = ChangeRequest(
                environment=env,
                kind=kind,
                summary=summary,
                reason=reason,
                payload=payload,
                author=actor,
            )
            cr.save()
            overlaps = ChangeRequest.objects.overlapping(env.pk, cr.touches(), exclude_pk=cr.pk)
            if overlaps:
                # told on the request's page, where the author withdraws or supersedes
                public = {**public, "overlaps": [o.pk for o in overlaps]}
            record(
                actor=actor,
                action="changerequest.created",
                target=cr,
                environment=env,
                changes=public,
                message=reason,
            )
            return SubmitResult(applied=False, change_request=cr, summary=summary)
        counts = _apply(actor=actor, environment=env, payload=payload)
        _mark_stale(actor=actor, environment=env, payload=payload)
        if audit_action:
            record(
                actor=actor,
                action=audit_action,
                target=env,
                environment=env,
                changes={"counts": counts, "changes": public["vars"]},
                message=reason,
            )
    environment.refresh_from_db()
    return SubmitResult(applied=True, summary=summary, counts=counts)


# --- Settings and deployments --------------------------------------------------------------------
def environment_update(
    *, actor, environment: Environment, reason: str = "", **values
) -> SubmitResult:
    """Change an environment's settings: at once when it is unprotected, else a change request.

    Production stays protected whatever is asked, and removing protection from a protected
    environment is itself a change to a protected environment: a change request.
    """
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown environment fields: {', '.join(sorted(unknown))}.")
    if values.get("protected", False) is None:  # "default": keep what it is
        values.pop("protected")
    _validate_settings(values)
    _require_protected_production(
        values.get("tier", environment.tier), values.get("protected", environment.protected)
    )
    if "name" in values:
        values["name"] = values["name"].strip()
        clash = environment.project.environments.filter(name__iexact=values["name"]).exclude(
            pk=environment.pk
        )
        if clash.exists():
            raise ValidationError(
                f"{environment.project.name} already has an environment named {values['name']!r}."
            )
    changed = {f: v for f, v in values.items() if getattr(environment, f) != v}
    payload = {
        "settings": {
            "before": {f: getattr(environment, f) for f in changed},
            "after": changed,
        }
    }
    return _submit(
        actor=actor,
        environment=environment,
        kind=ChangeKind.SETTINGS,
        payload=payload,
        reason=reason,
    )


def deployment_add(
    *,
    actor,
    environment: Environment,
    provider: str,
    identifier: str,
    url: str = "",
    reason: str = "",
) -> SubmitResult:
    if provider not in Provider.values:
        raise ValidationError(f"Unknown provider {provider!r}.")
    identifier = identifier.strip()
    if not identifier:
        raise ValidationError("A deployment needs an identifier, e.g. prod:basic-oriole-337.")
    if credentials.classify("", identifier).secret or credentials.find_credentials(identifier):
        raise ValidationError(
            {
                "identifier": "This looks like a credential (a deploy key or a token), not a "
                "deployment's name: enter the name, e.g. prod:basic-oriole-337."
            }
        )
    if environment.deployments.filter(provider=provider, identifier=identifier).exists():
        raise ValidationError(f"{provider} {identifier} is already listed.")
    payload = {
        "deployments": [{"op": "add", "provider": provider, "identifier": identifier, "url": url}]
    }
    return _submit(
        actor=actor,
        environment=environment,
        kind=ChangeKind.SETTINGS,
        payload=payload,
        reason=reason,
    )


def deployment_remove(*, actor, deployment: ProviderDeployment, reason: str = "") -> SubmitResult:
    payload = {
        "deployments": [
            {
                "op": "remove",
                "provider": deployment.provider,
                "identifier": deployment.identifier,
                "url": deployment.url,
            }
        ]
    }
    return _submit(
        actor=actor,
        environment=deployment.environment,
        kind=ChangeKind.SETTINGS,
        payload=payload,
        reason=reason,
    )


# --- Variables -----------------------------------------------------------------------------------
def _validate_key(key: str) -> str:
    key = key.strip()
    if parsers.looks_like_credential(key):
        raise ValidationError({"key": "This name looks like a credential: enter the name."})
    if not parsers.KEY_RE.match(key):
        raise ValidationError(
            {"key": f"Invalid variable name {key!r}: letters, digits and underscores only."}
        )
    return key


def configvar_save(
    *,
    actor,
    environment: Environment,
    key: str,
    value: str | None = None,
    is_secret: bool | None = None,
    reason: str = "",
    **meta: Any,
) -> SubmitResult:
    """Create or edit one variable. ``value=None`` keeps the current value."""
    key = _validate_key(key)
    unknown = set(meta) - set(META_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown variable fields: {', '.join(sorted(unknown))}.")
    var = environment.variables.filter(key=key).first()
    before = snapshot(var)
    after = (
        dict(before)
        if before
        else {f: ConfigVar._meta.get_field(f).get_default() for f in SNAPSHOT_FIELDS}
    )
    after.update(meta)
    if value is not None:
        secret = is_secret if is_secret is not None else (var.is_secret if var else None)
        after.update(value_state(key, value, is_secret=secret))
    elif is_secret is not None and is_secret != after["is_secret"]:
        if is_secret:
            after.update(is_secret=True, value="", hint="")
        elif after["has_value"]:
            raise ValidationError(
                {"value": "Enter the value to store it in the clear: a secret's value is not kept."}
            )
        else:
            after["is_secret"] = False
    elif var is None and is_secret is not None:
        after["is_secret"] = is_secret
    if before is not None and before == after:
        raise ValidationError("Nothing to change.")
    op = {"op": "create" if var is None else "update", "key": key, "before": before, "after": after}
    return _submit(
        actor=actor,
        environment=environment,
        kind=ChangeKind.VARIABLES,
        payload={"vars": [op]},
        reason=reason,
    )


def configvar_delete(
    *, actor, environment: Environment, key: str, reason: str = ""
) -> SubmitResult:
    var = environment.variables.filter(key=key).first()
    if var is None:
        raise ValidationError(f"{environment} has no variable {key}.")
    op = {"op": "delete", "key": key, "before": snapshot(var), "after": None}
    return _submit(
        actor=actor,
        environment=environment,
        kind=ChangeKind.VARIABLES,
        payload={"vars": [op]},
        reason=reason,
    )


def configvar_rotate(
    *, actor, configvar: ConfigVar, new_value: str, reason: str = ""
) -> SubmitResult:
    """Record that a secret was rotated: its new fingerprint must differ from the old one."""
    if not new_value:
        raise ValidationError(
            {"new_value": "Enter the new value (it is fingerprinted, not stored)."}
        )
    before = snapshot(configvar)
    state = value_state(configvar.key, new_value, is_secret=configvar.is_secret)
    if configvar.has_value and state["fingerprint"] == configvar.fingerprint:
        raise ValidationError(
            {
                "new_value": "This is the value already recorded (same fingerprint): "
                "it was not rotated."
            }
        )
    after = {**before, **state}
    op = {"op": "rotate", "key": configvar.key, "before": before, "after": after}
    return _submit(
        actor=actor,
        environment=configvar.environment,
        kind=ChangeKind.ROTATION,
        payload={"vars": [op]},
        reason=reason,
    )


# --- Import -------------------------------------------------------------------------------------
def env_import_apply(
    *, actor, environment: Environment, plan: ImportPlan, reason: str = ""
) -> SubmitResult:
    if plan.environment_id != environment.pk:
        raise ValidationError("This import preview belongs to another environment.")
    if not plan.has_changes:
        raise ValidationError("Nothing to import: every variable is already up to date.")
    return _submit(
        actor=actor,
        environment=environment,
        kind=ChangeKind.IMPORT,
        payload=plan.payload,
        reason=reason,
        audit_action="env.import.applied",
    )


# --- Change requests -----------------------------------------------------------------------------
def _lock_pending(change_request: ChangeRequest) -> ChangeRequest:
    cr = (
        ChangeRequest.objects.select_for_update()
        .select_related("environment")
        .get(pk=change_request.pk)
    )
    if cr.status != ChangeRequestStatus.PENDING:
        raise ValidationError(
            f"Change request #{cr.pk} is already {cr.get_status_display().lower()}."
        )
    return cr


def changerequest_approve(
    *, actor, change_request: ChangeRequest, reason: str = ""
) -> ChangeRequest:
    """A second person approves: the diff applies atomically, or nothing does."""
    require(actor, "environments.approve_changerequest", action="approve change requests")
    if change_request.author_id == actor.pk:
        raise PermissionDenied("You cannot approve your own change request: another approver must.")
    with transaction.atomic():
        # The environment first, then the request: two approvals of overlapping requests queue
        # on the environment instead of each holding the request the other marks stale.
        env = Environment.objects.select_for_update().get(pk=change_request.environment_id)
        cr = _lock_pending(change_request)
        now = timezone.now()
        cr.status = ChangeRequestStatus.APPLIED
        cr.decided_by, cr.decided_at, cr.decision_reason = actor, now, reason
        cr.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        record(
            actor=actor,
            action="changerequest.approved",
            target=cr,
            environment=env,
            changes={"author": cr.author.get_username(), "summary": cr.summary},
            message=reason,
        )
        counts = _apply(actor=actor, environment=env, payload=cr.payload, change_request=cr)
        record(
            actor=actor,
            action="changerequest.applied",
            target=cr,
            environment=env,
            changes={"counts": counts, "kind": cr.kind, "author": cr.author.get_username()},
        )
        _mark_stale(actor=actor, environment=env, payload=cr.payload, cause=cr)
        if cr.kind == ChangeKind.IMPORT:
            record(
                actor=actor,
                action="env.import.applied",
                target=env,
                environment=env,
                changes={"counts": counts, "change_request": cr.pk},
                message=cr.reason,
            )
    change_request.refresh_from_db()
    return change_request


def changerequest_reject(*, actor, change_request: ChangeRequest, reason: str) -> ChangeRequest:
    require(actor, "environments.approve_changerequest", action="reject change requests")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the change is rejected."})
    if change_request.author_id == actor.pk:
        raise PermissionDenied("You cannot decide your own change request; withdraw it instead.")
    with transaction.atomic():
        cr = _lock_pending(change_request)
        cr.status = ChangeRequestStatus.REJECTED
        cr.decided_by, cr.decided_at, cr.decision_reason = actor, timezone.now(), reason.strip()
        cr.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        record(
            actor=actor,
            action="changerequest.rejected",
            target=cr,
            environment=cr.environment,
            changes={"summary": cr.summary},
            message=reason,
        )
    change_request.refresh_from_db()
    return change_request


def changerequest_withdraw(
    *, actor, change_request: ChangeRequest, reason: str = ""
) -> ChangeRequest:
    if actor is None or change_request.author_id != actor.pk:
        raise PermissionDenied("Only the author can withdraw a change request.")
    with transaction.atomic():
        cr = _lock_pending(change_request)
        cr.status = ChangeRequestStatus.WITHDRAWN
        cr.decided_by, cr.decided_at, cr.decision_reason = actor, timezone.now(), reason
        cr.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        record(
            actor=actor,
            action="changerequest.withdrawn",
            target=cr,
            environment=cr.environment,
            changes={"summary": cr.summary},
            message=reason,
        )
    change_request.refresh_from_db()
    return change_request


def _mark_stale(
    *, actor, environment: Environment, payload: dict, cause: ChangeRequest | None = None
) -> list[ChangeRequest]:
    """Inside the transaction that applied ``payload``: every other open request on this
    environment touching what it changed was prepared against a state that is gone. Each is
    marked stale (audited), so it leaves every queue instead of waiting for an approval that
    could only fail with "prepare it again". The caller holds the environment's lock."""
    exclude = cause.pk if cause is not None else None
    found = ChangeRequest.objects.overlapping(environment.pk, touched_by(payload), exclude)
    if not found:
        return []
    overlap = {o.pk: o.overlap for o in found}
    locked = (
        ChangeRequest.objects.select_for_update(of=("self",))
        .select_related("author")
        .filter(pk__in=list(overlap), status=ChangeRequestStatus.PENDING)
    )
    now = timezone.now()
    marked = []
    for other in locked.order_by("pk"):
        labels = ", ".join(touched_label(n) for n in overlap[other.pk])
        if cause is not None:
            why = f"#{cause.pk} changed {labels} first: prepare this change again."
        else:
            why = f"{labels} changed by {actor} since this was prepared: prepare it again."
        other.status = ChangeRequestStatus.STALE
        other.decided_at, other.decision_reason, other.replaced_by = now, why, cause
        other.save(update_fields=["status", "decided_at", "decision_reason", "replaced_by"])
        record(
            actor=actor,
            action="changerequest.stale",
            target=other,
            environment=environment,
            changes={
                "status": [ChangeRequestStatus.PENDING, ChangeRequestStatus.STALE],
                "replaced_by": cause.pk if cause is not None else None,
                "overlap": overlap[other.pk],
                "author": other.author.get_username(),
            },
            message=why,
        )
        marked.append(other)
    return marked


def changerequest_conflicts(change_request: ChangeRequest) -> list[ChangeRequest]:
    """The other open requests on the same environment touching what this one touches, each
    with ``overlap`` (the names both change). Empty once this one is decided."""
    if not change_request.is_pending:
        return []
    return ChangeRequest.objects.overlapping(
        change_request.environment_id, change_request.touches(), exclude_pk=change_request.pk
    )


def can_supersede(actor, change_request: ChangeRequest, other: ChangeRequest) -> bool:
    """The author of the newer request may retire ``other`` when ``other`` is their own, or when
    they may decide requests (an approver could reject it anyway)."""
    if actor is None or not actor.is_authenticated or change_request.author_id != actor.pk:
        return False
    return other.author_id == actor.pk or actor.has_perm("environments.approve_changerequest")


def changerequest_supersede(
    *, actor, change_request: ChangeRequest, other: ChangeRequest, reason: str = ""
) -> ChangeRequest:
    """``change_request`` replaces ``other``, an open request on the same variables: ``other``
    is closed as superseded (audited) and leaves every queue; ``change_request`` stays open."""
    require(actor, "environments.add_changerequest", action="supersede change requests")
    if not can_supersede(actor, change_request, other):
        raise PermissionDenied(
            f"Only the author of #{change_request.pk} may supersede with it, and only their own "
            "request or, as an approver, someone else's."
        )
    if other.pk == change_request.pk:
        raise ValidationError("A change request cannot supersede itself.")
    with transaction.atomic():
        env = Environment.objects.select_for_update().get(pk=change_request.environment_id)
        cr = _lock_pending(change_request)
        old = _lock_pending(other)
        if old.environment_id != env.pk:
            raise ValidationError(f"#{old.pk} is a change to another environment.")
        common = sorted(cr.touches() & old.touches())
        if not common:
            raise ValidationError(f"#{old.pk} changes nothing #{cr.pk} changes: decide it apart.")
        labels = ", ".join(touched_label(n) for n in common)
        why = reason.strip() or f"Superseded by #{cr.pk} ({labels})."
        old.status = ChangeRequestStatus.SUPERSEDED
        old.decided_by, old.decided_at = actor, timezone.now()
        old.decision_reason, old.replaced_by = why, cr
        old.save(
            update_fields=["status", "decided_by", "decided_at", "decision_reason", "replaced_by"]
        )
        record(
            actor=actor,
            action="changerequest.superseded",
            target=old,
            environment=env,
            changes={
                "status": [ChangeRequestStatus.PENDING, ChangeRequestStatus.SUPERSEDED],
                "superseded_by": cr.pk,
                "overlap": common,
                "author": old.author.get_username(),
            },
            message=why,
        )
    other.refresh_from_db()
    return other
