"""Where an audit event leads: its target, the objects its data names, the request it came from.

The audit app imports no domain app. Each app says how to link what it records in an optional
``<app>/audit_links.py`` (found in every installed app, like Django's ``admin.py``):

- ``LINKS = {"environments.changerequest": by_pk("environments:changerequest_detail"), ...}``:
  a target type → a function ``(target_id) -> url or None``. It must not query the database: the
  audit log links fifty rows a page. Types not listed still link, through ``audit:target`` (it
  loads the object by content type and redirects to its ``get_absolute_url``).
- ``REFERENCES = {"change_request": "environments.changerequest", ...}``: keys of an event's
  ``changes`` whose value is the id of an object of that type (shown as links on the event page).
- ``HISTORY = {"runbooks.runbook": runbook_history, ...}``: a model label → ``(obj) -> Q``, when
  an object's history is more than the events that target it (a runbook's versions, a member's
  import jobs and review items). Without one, :meth:`AuditEventQuerySet.for_target` is the events
  whose target is the object.
- ``TYPE_LABELS = {"environments.configvar": "variable"}``: how a type is named on pages.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module

from django.apps import apps
from django.db.models import Q
from django.urls import NoReverseMatch, reverse

LinkFn = Callable[[str], str | None]


def by_pk(urlname: str) -> LinkFn:
    """A link function for a detail page addressed by the target's integer primary key."""

    def link(target_id: str) -> str | None:
        if not (target_id or "").isascii() or not str(target_id).isdigit():
            return None
        try:
            return reverse(urlname, args=[int(target_id)])
        except NoReverseMatch:
            return None

    return link


@dataclass
class Registry:
    links: dict[str, LinkFn] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    history: dict[str, Callable] = field(default_factory=dict)
    type_labels: dict[str, str] = field(default_factory=dict)


CORE_LINKS: dict[str, LinkFn] = {
    "audit.auditevent": lambda seq: (
        reverse("audit:event_detail", args=[int(seq)]) if str(seq).isdigit() else None
    ),
}


@cache
def registry() -> Registry:
    """Every installed app's ``audit_links`` merged (loaded once per process)."""
    reg = Registry(links=dict(CORE_LINKS))
    for config in apps.get_app_configs():
        name = f"{config.name}.audit_links"
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        reg.links.update(getattr(module, "LINKS", {}))
        reg.references.update(getattr(module, "REFERENCES", {}))
        reg.history.update(getattr(module, "HISTORY", {}))
        reg.type_labels.update(getattr(module, "TYPE_LABELS", {}))
    return reg


@cache
def _is_model(target_type: str) -> bool:
    try:
        apps.get_model(target_type)
    except (LookupError, ValueError):
        return False
    return True


def target_url(target_type: str, target_id) -> str | None:
    """The page of an event's target, without a query: the app's registered link, else the
    generic ``audit:target`` redirect for any model; None when there is nothing to link."""
    target_id = "" if target_id is None else str(target_id)
    if not target_type or not target_id:
        return None
    link = registry().links.get(target_type)
    if link is not None:
        return link(target_id)
    if _is_model(target_type) and len(target_id) <= 64:
        return reverse("audit:target", args=[target_type, target_id])
    return None


def type_label(target_type: str) -> str:
    label = registry().type_labels.get(target_type)
    if label:
        return label
    if _is_model(target_type):
        return str(apps.get_model(target_type)._meta.verbose_name)
    return target_type.rpartition(".")[2]


@dataclass(frozen=True)
class Reference:
    key: str
    target_type: str
    target_id: str
    label: str
    url: str | None


def references(changes) -> list[Reference]:
    """The objects an event's data names by id (``change_request: 12`` → change request #12)."""
    if not isinstance(changes, dict):
        return []
    found = []
    for key, target_type in registry().references.items():
        value = changes.get(key)
        if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
            continue
        value = str(value)
        if not value.isascii() or not value.isdigit():
            continue
        found.append(
            Reference(
                key=key,
                target_type=target_type,
                target_id=value,
                label=f"{type_label(target_type)} #{value}",
                url=target_url(target_type, value),
            )
        )
    return found


def history_q(obj) -> Q:
    """Which events make ``obj``'s history: its app's ``HISTORY`` rule, else its own events."""
    label = obj._meta.label_lower
    own = Q(target_type=label, target_id=str(obj.pk))
    rule = registry().history.get(label)
    return own | rule(obj) if rule is not None else own


def history_url(obj) -> str:
    return reverse("audit:target_history", args=[obj._meta.label_lower, obj.pk])
