"""Which variables a rotation campaign covers.

A campaign rotates *secrets that hold a value* (``is_secret`` and ``has_value``): a public value
has nothing to rotate. The ways to choose them:

- a whole environment, or a whole project (every environment of it);
- a kind of credential: one :class:`opsportal.credentials.Kind` (``stripe_secret_live``) or a
  family of them (``stripe``: every ``stripe_*`` kind, "all Stripe keys");
- **everything readable by a user** (after someone leaves, or after a laptop is lost). Secret
  values never enter the portal, so "readable" means what the person could reach through the
  portal's role or is known from the audit trail to have handled:

  1. *by role*: when the user's permissions (their role's group, direct permissions or
     superuser) include ``environments.view_configvar``, every environment's inventory was
     readable to them (roles are portal-wide), so every secret is in scope;
  2. *by the audit trail*: every environment on which the user has an audit event — edits,
     imports, rotations, change requests made or decided, exports and views where those are
     recorded, runbook runs — is in scope, whatever their role is now (a role revoked since
     does not shrink what they saw);
  3. *by authorship*: every variable whose current value the user entered (an audit event by
     them on that variable whose new fingerprint is the current one) — they typed or pasted it.

  The selection is the union of the three; :func:`readable_by` returns which rule brought each
  environment in, for the campaign page to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from environments.models import ConfigVar, Environment, Project
from opsportal.audit.models import AuditEvent
from opsportal.credentials import Kind

from .choices import Scope

VAR_ACTIONS = ("configvar.created", "configvar.updated", "configvar.rotated")
VAR_TARGET = "environments.configvar"


def rotatable() -> QuerySet:
    return ConfigVar.objects.filter(is_secret=True, has_value=True)


def kind_families() -> list[tuple[str, str]]:
    """``[(family, label)]``: providers with more than one kind, e.g. ``("stripe", "All Stripe
    keys")``, from the classifier's own list (a new kind joins its family by its prefix)."""
    members: dict[str, list[str]] = {}
    for value in Kind.values:
        members.setdefault(value.split("_", 1)[0], []).append(value)
    out = []
    for family, kinds in sorted(members.items()):
        if len(kinds) > 1:
            name = Kind(kinds[0]).label.split(" ", 1)[0]
            out.append((family, f"All {name} keys ({family}_*)"))
    return out


def kind_choices() -> list[tuple[str, str]]:
    return [(f"family:{f}", label) for f, label in kind_families()] + [
        (value, label) for value, label in Kind.choices
    ]


def _kinds_for(choice: str) -> list[str]:
    if choice.startswith("family:"):
        family = choice.split(":", 1)[1]
        kinds = [v for v in Kind.values if v.split("_", 1)[0] == family]
    else:
        kinds = [choice] if choice in Kind.values else []
    if not kinds:
        raise ValidationError({"kind": f"Unknown kind {choice!r}."})
    return kinds


@dataclass
class Readable:
    """What :func:`readable_by` found, and why (for the page and the audit row)."""

    by_role: bool = False
    environments: list[int] = field(default_factory=list)  # by the audit trail
    authored: list[int] = field(default_factory=list)  # variables whose value they entered

    def as_dict(self) -> dict:
        return {
            "by_role": self.by_role,
            "environments_by_trail": sorted(self.environments),
            "variables_authored": len(self.authored),
        }


def readable_by(user, *, since=None) -> tuple[QuerySet, Readable]:
    """The secrets ``user`` could read (see the module docstring), and which rule applied."""
    why = Readable()
    if user.is_active and user.has_perm("environments.view_configvar"):
        why.by_role = True
        return rotatable(), why
    events = AuditEvent.objects.filter(actor_id=user.pk)
    if since is not None:
        events = events.filter(at__gte=since)
    why.environments = sorted(
        set(
            events.filter(environment_id__isnull=False)
            .values_list("environment_id", flat=True)
            .distinct()
        )
    )
    # Values they entered: their events on a variable whose new fingerprint is the current one.
    authored: dict[str, set[str]] = {}
    rows = events.filter(action__in=VAR_ACTIONS, target_type=VAR_TARGET).values_list(
        "target_id", "changes"
    )
    for target_id, changes in rows:
        after = (changes or {}).get("after") or {}
        if after.get("fingerprint") and target_id.isdigit():
            authored.setdefault(target_id, set()).add(after["fingerprint"])
    if authored:
        for var in rotatable().filter(pk__in=[int(t) for t in authored]).only("pk", "fingerprint"):
            if var.fingerprint[:16] in authored[str(var.pk)]:
                why.authored.append(var.pk)
    qs = rotatable().filter(Q(environment_id__in=why.environments) | Q(pk__in=why.authored))
    return qs, why


def select(
    *, scope: str, environment=None, project=None, kind: str = "", user=None, variables=None
) -> tuple[QuerySet, str, dict]:
    """``(variables, label, detail)`` for a scope; ``ValidationError`` naming the missing field."""
    detail: dict = {"scope": scope}
    if scope == Scope.ENVIRONMENT:
        if not isinstance(environment, Environment):
            raise ValidationError({"environment": "Choose the environment."})
        detail["environment"] = environment.pk
        return rotatable().filter(environment=environment), str(environment), detail
    if scope == Scope.PROJECT:
        if not isinstance(project, Project):
            raise ValidationError({"project": "Choose the project."})
        detail["project"] = project.pk
        return rotatable().filter(environment__project=project), f"project {project}", detail
    if scope == Scope.KIND:
        if not kind:
            raise ValidationError({"kind": "Choose the kind of credential."})
        kinds = _kinds_for(kind)
        detail["kinds"] = kinds
        label = dict(kind_choices()).get(kind, kind)
        return rotatable().filter(value_kind__in=kinds), label, detail
    if scope == Scope.READABLE_BY:
        if user is None:
            raise ValidationError({"user": "Choose the user."})
        qs, why = readable_by(user)
        detail.update(user=user.get_username(), **why.as_dict())
        return qs, f"everything readable by {user.get_username()}", detail
    if scope == Scope.VARIABLES:
        ids = [v.pk if hasattr(v, "pk") else int(v) for v in (variables or [])]
        if not ids:
            raise ValidationError({"variables": "Choose at least one variable."})
        qs = rotatable().filter(pk__in=ids)
        detail["variables"] = len(ids)
        keys = list(qs.select_related("environment__project")[:3])
        label = ", ".join(str(v) for v in keys) + (" …" if len(ids) > 3 else "")
        return qs, label, detail
    raise ValidationError({"scope": f"Unknown scope {scope!r}."})
