"""What happened, told after it committed: subscribers to audit events.

Every service records an audit event with a stable action name inside its own transaction
(``opsportal.audit.services.record``). ``record`` hands each event to :func:`recorded`, which
registers a ``transaction.on_commit`` callback when someone subscribed to that action: the
subscriber hears of the event only once the change it describes has committed, and never when
the transaction rolls back. Nothing here knows what the subscribers do (notifications subscribe
from their ``AppConfig.ready``); no domain logic lives in signals or ``save()``.

A subscriber is called in the committing thread, after the commit: it must be quick (enqueue
work, don't do it) and its failure never reaches the service's caller (each handler is isolated
and its exception logged). Subscribers that must not miss an event keep their own cursor over the
audit log as well: an on-commit callback is lost if the process dies right after the commit.

Patterns are ``fnmatch``-style action names: ``changerequest.*``, ``runbook.step.signed_off``.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from opsportal.audit.models import AuditEvent

logger = logging.getLogger(__name__)

Handler = Callable[["AuditEvent"], None]
_subscribers: list[tuple[str, Handler]] = []


def subscribe(pattern: str, handler: Handler) -> None:
    """Call ``handler(event)`` after the commit of every audit event whose action matches."""
    if (pattern, handler) not in _subscribers:
        _subscribers.append((pattern, handler))
        handlers_for.cache_clear()


def unsubscribe(pattern: str, handler: Handler) -> None:
    if (pattern, handler) in _subscribers:
        _subscribers.remove((pattern, handler))
        handlers_for.cache_clear()


@functools.lru_cache(maxsize=1024)
def handlers_for(action: str) -> tuple[Handler, ...]:
    """The handlers subscribed to ``action`` (each once, in subscription order)."""
    found: list[Handler] = []
    for pattern, handler in _subscribers:
        if handler not in found and fnmatch.fnmatchcase(action, pattern):
            found.append(handler)
    return tuple(found)


def recorded(event: AuditEvent) -> None:
    """Called by ``record()`` inside the service's transaction, for every event it appends."""
    handlers = handlers_for(event.action)
    if handlers:
        transaction.on_commit(functools.partial(_publish, event, handlers), robust=True)


def _publish(event: AuditEvent, handlers: tuple[Handler, ...]) -> None:
    for handler in handlers:
        try:
            handler(event)
        except Exception:
            # The change is committed: a subscriber's failure must not turn it into an error page.
            logger.exception(
                "event subscriber %r failed on %s #%s", handler, event.action, event.seq
            )
