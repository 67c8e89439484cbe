"""Global search (``/search/?q=``): each domain app contributes providers; this module runs them.

The ground floor imports no domain app. An app that has something to find defines
``<app>/search.py`` with ``PROVIDERS``: a list of :class:`Provider` (found through
``opsportal.apphooks``). A provider

- names the permission a user needs to see its group (``permission``; ``None``: every
  signed-in user) — a group the user may not see is neither queried nor shown;
- runs **one** bounded query (``LIMIT``) in ``find(query, limit)`` and returns :class:`Hit` s;
- searches with an index: ``contains(...)`` is ``icontains`` (on PostgreSQL served by the
  trigram indexes of members and audit targets), and a provider whose column has only a
  btree index asks for ``query.prefix`` matches instead.

A query shorter than ``MIN_LENGTH`` characters searches nothing (a trigram index cannot serve
it and a two-letter substring matches half the database).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q

from opsportal.apphooks import app_hooks

MIN_LENGTH = 2
TRIGRAM_LENGTH = 3  # a substring search over a large table needs at least one trigram
MAX_LENGTH = 100
LIMIT = 6


@dataclass(frozen=True)
class Hit:
    """One result: what it is, where it lives, and a line of context."""

    title: str
    url: str
    detail: str = ""


@dataclass(frozen=True)
class Query:
    """What the user typed, trimmed, with the forms providers match on."""

    text: str

    @property
    def phone_like(self) -> bool:
        """Digits, spaces, ``+ ( ) - .`` only: a phone number as people type it."""
        return bool(_PHONE_LIKE.fullmatch(self.text))

    @property
    def substring_ok(self) -> bool:
        """Long enough for a substring search on a large, trigram-indexed table."""
        return len(self.text) >= TRIGRAM_LENGTH

    @property
    def number(self) -> int | None:
        """``#123`` or ``123`` as an id, else None."""
        m = _NUMBER.fullmatch(self.text)
        return int(m.group(1)) if m and len(m.group(1)) <= 18 else None


_PHONE_LIKE = re.compile(r"\+?[\d\s().-]{6,20}")
_NUMBER = re.compile(r"#?(\d+)")


@dataclass
class Provider:
    """A group of results from one app: ``find(query, limit) -> list[Hit]``, one query."""

    key: str
    label: str
    find: Callable[[Query, int], list[Hit]]
    permission: str | None = None
    order: int = 50
    #: "see all" for the group: a list page filtered by the query (``{q}`` is replaced)
    more_url: Callable[[Query], str] | None = None

    def visible_to(self, user) -> bool:
        return self.permission is None or user.has_perm(self.permission)


@dataclass
class Group:
    key: str
    label: str
    hits: list[Hit] = field(default_factory=list)
    more_url: str = ""


def contains(*fields: str, text: str) -> Q:
    """``field__icontains`` over several fields, OR-ed (trigram-indexed on PostgreSQL)."""
    q = Q()
    for name in fields:
        q |= Q(**{f"{name}__icontains": text})
    return q


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def providers() -> list[Provider]:
    from opsportal.audit import search as audit_search  # the ground floor's own audit trail

    found: list[Provider] = list(audit_search.PROVIDERS)
    for module in app_hooks("search"):
        found.extend(getattr(module, "PROVIDERS", ()))
    return sorted(found, key=lambda p: p.order)


def clean(raw: str | None) -> str:
    text = " ".join((raw or "").split())
    return text[:MAX_LENGTH]


def search(user, raw: str | None, *, limit: int = LIMIT, only: Iterable[str] = ()) -> list[Group]:
    """The non-empty groups of results the user may see, in the providers' order."""
    text = clean(raw)
    if len(text) < MIN_LENGTH or "\x00" in text:
        return []
    query = Query(text)
    wanted = set(only)
    groups = []
    for provider in providers():
        if wanted and provider.key not in wanted:
            continue
        if not provider.visible_to(user):
            continue
        hits = provider.find(query, limit)
        if hits:
            more = provider.more_url(query) if provider.more_url else ""
            groups.append(Group(provider.key, provider.label, hits[:limit], more))
    return groups
