"""Authorisation checks shared by services, views and commands."""

from django.core.exceptions import PermissionDenied


def require(actor, perm: str, *, action: str = "") -> None:
    """Raise ``PermissionDenied`` with a readable message unless ``actor`` holds ``perm``."""
    if actor is None or not actor.is_active or not actor.has_perm(perm):
        who = actor.get_username() if actor is not None else "anonymous"
        what = action or perm
        raise PermissionDenied(f"{who} is not allowed to {what}.")
