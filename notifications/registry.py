"""The events and handlers the apps declared in their ``notify`` modules (``hooks.py``)."""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable

from django.db.models import Q

from opsportal.apphooks import app_hooks

from .hooks import EventType, Notice


@functools.cache
def _modules() -> tuple:
    return tuple(app_hooks("notify"))


@functools.cache
def event_types() -> dict[str, EventType]:
    """Every event any app emits, by key, in the apps' order."""
    found: dict[str, EventType] = {}
    for module in _modules():
        for event_type in getattr(module, "EVENTS", ()):
            if event_type.key in found:
                raise ValueError(f"event {event_type.key!r} is declared twice")
            found[event_type.key] = event_type
    return found


def event_type(key: str) -> EventType:
    try:
        return event_types()[key]
    except KeyError:
        raise ValueError(f"no app declares the event {key!r} (EVENTS in <app>/notify.py)") from None


@functools.cache
def _handlers() -> tuple[tuple[str, Callable[..., list[Notice]]], ...]:
    return tuple(
        (pattern, handler)
        for module in _modules()
        for pattern, handler in getattr(module, "HANDLERS", {}).items()
    )


def action_patterns() -> list[str]:
    return sorted({pattern for pattern, _ in _handlers()})


@functools.lru_cache(maxsize=512)
def handlers_for(action: str) -> tuple[Callable[..., list[Notice]], ...]:
    return tuple(h for pattern, h in _handlers() if fnmatch.fnmatchcase(action, pattern))


def actions_q() -> Q:
    """The audit events any handler wants, as a filter (``prefix.*`` patterns as prefixes)."""
    q = Q(pk__in=[])
    for pattern in action_patterns():
        if pattern.endswith(".*") and not any(c in pattern[:-2] for c in "*?["):
            q |= Q(action__startswith=pattern[:-1])
        elif not any(c in pattern for c in "*?["):
            q |= Q(action=pattern)
        else:  # an unusual pattern: let every event through, handlers_for decides
            return Q()
    return q


def scanners() -> list[Callable]:
    return [module.scan for module in _modules() if hasattr(module, "scan")]


def waiting_modules() -> list:
    return list(app_hooks("waiting"))
