"""Finding an environment by the name CI and the webhook settings use: ``<project-slug>/<name>``."""

from django.core.exceptions import ValidationError

from environments.models import Environment


def environment_from_path(path: str, *, field: str = "environment") -> Environment:
    """``"makalah-ai/prod"`` → that environment, or a ``ValidationError`` naming ``field``."""
    slug, sep, name = (path or "").strip().partition("/")
    if not sep or not slug or not name or "/" in name:
        raise ValidationError(
            {field: "Name the environment as <project-slug>/<environment-name>, e.g. acme/prod."}
        )
    environments = Environment.objects.select_related("project").filter(project__slug=slug)
    env = environments.filter(name=name).first() or environments.filter(name__iexact=name).first()
    if env is None:
        raise ValidationError({field: f"No environment {name!r} in a project {slug!r}."})
    return env


def environment_path(environment: Environment) -> str:
    return f"{environment.project.slug}/{environment.name}"
