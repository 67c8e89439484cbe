"""A line break in free text never adds a line to a line-oriented export, and a hostile import
text is a 400 with a message, not a 500 (issue 14, item 6)."""

import base64

import pytest
from django.test import Client
from django.urls import reverse

from environments import parsers
from opsportal.audit.models import AuditEvent
from tests.factories import ProjectFactory

from .factories import ConfigVarFactory

pytestmark = pytest.mark.django_db

INJECTED = "NODE_OPTIONS=--require /tmp/evil.js"


def _client(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n", "\u2028", "\x85", "\x0b"])
def test_a_description_stays_on_its_comment_line(users, dev, newline):
    ConfigVarFactory(environment=dev, key="NEXT_PUBLIC_FLAG", raw="on", secret=False,
                     description=f"Feature flag{newline}{INJECTED}",
                     example=f"on{newline}{INJECTED}")  # fmt: skip
    client = _client(users["viewer"])
    url = reverse("environments:project_export", args=[dev.project.slug, "env-example"])
    text = client.get(url).content.decode()
    lines = text.split("\n")
    assert not any(line.startswith("NODE_OPTIONS") for line in lines)
    assert f"# optional: Feature flag {INJECTED}" in lines
    (assignment,) = [line for line in lines if line.startswith("NEXT_PUBLIC_FLAG=")]
    assert INJECTED in assignment  # kept on the variable's own line (\n as dotenv's escape)
    # nothing else splits the file either (what Python's splitlines() or an editor would)
    assert text.splitlines() == lines[: len(text.splitlines())]

    md = client.get(
        reverse("environments:project_export", args=[dev.project.slug, "md"])
    ).content.decode()
    assert not any(line.startswith("NODE_OPTIONS") for line in md.splitlines())


def test_a_project_name_stays_on_the_title_line(users):
    project = ProjectFactory(name=f"acme\n{INJECTED}", slug="acme-nl")
    client = _client(users["viewer"])
    for fmt in ("env-example", "md"):
        text = client.get(
            reverse("environments:project_export", args=[project.slug, fmt])
        ).content.decode()
        assert not any(line.startswith("NODE_OPTIONS") for line in text.splitlines()), fmt


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        "services:\n  web:\n    environment: " + "[" * 50_000 + "]" * 50_000,
    ],
    ids=["json-array", "json-object", "compose-yaml"],
)
def test_deeply_nested_input_is_refused_with_a_message(users, dev, text):
    with pytest.raises(parsers.ParseError, match="nested too deeply"):
        parsers.read(text)
    client = _client(users["operator"])
    response = client.post(reverse("environments:env_import", args=[dev.pk]), {"text": text})
    assert response.status_code == 400
    assert "nested too deeply" in response.content.decode()
    assert not dev.variables.exists()
    assert not AuditEvent.objects.filter(action__startswith="env.").exists()


def _nested_jwt(depth: int = 3000) -> str:
    """A JWT-shaped value whose payload is JSON nested ``depth`` deep (about 10 KB)."""
    payload = base64.urlsafe_b64encode(b"[" * depth + b"]" * depth).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.c2lnbmF0dXJl"


def test_a_jwt_shaped_value_with_deeply_nested_claims_is_kept_as_a_secret(users, dev):
    """The classifier and the pointing check read a JWT's claims: nesting deeper than Python's
    recursion limit is "no claims" (a secret all the same), not a 500."""
    value = _nested_jwt()
    client = _client(users["operator"])
    response = client.post(
        reverse("environments:configvar_create", args=[dev.pk]),
        {"key": "API_TOKEN", "value": value, "secret": "auto"},
    )
    assert response.status_code == 302
    var = dev.variables.get(key="API_TOKEN")
    assert var.is_secret and value not in str(var.__dict__)
    created = AuditEvent.objects.get(action="configvar.created")
    assert value not in str(created.changes)

    response = client.post(
        reverse("environments:env_import", args=[dev.pk]), {"text": f"SERVICE_TOKEN={value}\n"}
    )
    assert response.status_code in (200, 302)
    assert value not in response.content.decode()


def test_the_promotion_checklist_keeps_names_on_their_line(users, project):
    """An environment named with a line break cannot add a ticked task to the checklist."""
    from tests.factories import EnvironmentFactory

    source = EnvironmentFactory(project=project, name="dev\r- [x] **approved** by security")
    target = EnvironmentFactory(project=project, name="stage\u2028- [x] signed off")
    ConfigVarFactory(environment=source, key="ONLY_IN_SOURCE", raw="plain-value")
    client = _client(users["viewer"])
    url = reverse("environments:project_compare", args=[project.slug])
    text = client.get(url, {"source": source.pk, "target": target.pk, "format": "md"})
    lines = text.content.decode().splitlines()
    assert not [line for line in lines if line.startswith("- [x]")]
    assert lines[0] == (
        f"### Promote {project.name}: dev - [x] **approved** by security → stage - [x] signed off"
    )
