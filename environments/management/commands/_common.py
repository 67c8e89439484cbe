"""Helpers shared by the environments management commands."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db.models import Q

from environments.models import Project


def user_named(username: str):
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"No active user named {username!r} (--as).")
    return user


def project_named(name: str) -> Project:
    project = Project.objects.filter(Q(name__iexact=name) | Q(slug=name)).first()
    if project is None:
        raise CommandError(f"No project named {name!r} (give its name or slug).")
    return project


def error_text(exc) -> str:
    messages = getattr(exc, "messages", None)
    return "; ".join(messages) if messages else str(exc)
