"""Bad input to the importers: a clear error naming the line, nothing applied, nothing audited."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from environments import services
from environments.models import ChangeRequest, ConfigVar
from opsportal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

CASES = {
    "binary": (b"A=1\nB=\x00\x89PNG\r\n", "line 2: the file contains binary data"),
    "utf16": ("A=1\nB=2\n".encode("utf-16"), "line 1: the file is UTF-16 encoded"),
    "twenty_mb": (b"A=" + b"x" * (20 * 1024 * 1024) + b"\n", "the limit is 1,048,576 bytes"),
    "duplicate": (b"A=1\nB=2\nA=3\n", "line 3: duplicate variable A (first defined on line 1)"),
    "invalid_key": (b"A=1\nMY-KEY=2\n", "line 2: invalid variable name 'MY-KEY'"),
    "unterminated": (b'A=1\nB="never closed\nC=3\n', 'line 2: unterminated " quote'),
    "latin1": (b"A=1\nNAME=caf\xe9\n", "line 2: the file is not valid UTF-8"),
}


def assert_nothing_happened(env):
    assert not ConfigVar.objects.filter(environment=env).exists()
    assert not ChangeRequest.objects.exists()
    assert not AuditEvent.objects.exclude(action__startswith="auth.").exists()


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("where", ["dev", "prod"])
def test_upload_rejected_with_line(users, dev, prod, case, where):
    env = {"dev": dev, "prod": prod}[where]
    data, message = CASES[case]
    client = Client()
    client.force_login(users["operator"])
    response = client.post(
        reverse("environments:env_import", args=[env.pk]),
        {"upload": SimpleUploadedFile("bad.env", data), "format": "auto", "reason": "test"},
    )
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')
    assert_nothing_happened(env)


@pytest.mark.parametrize("case", ["duplicate", "invalid_key", "unterminated"])
def test_pasted_text_rejected_with_line(users, dev, case):
    data, message = CASES[case]
    with pytest.raises(ValidationError) as info:
        services.import_plan(environment=dev, text=data.decode())
    assert message in str(info.value)
    client = Client()
    client.force_login(users["operator"])
    text = "API_SECRET=never-echo-0042-xyzzy\n" + data.decode()
    response = client.post(reverse("environments:env_import", args=[dev.pk]), {"text": text})
    assert response.status_code == 400
    assert "line " in response.content.decode()
    # The pasted text (which may hold secrets) is not rendered back into the form.
    assert "never-echo-0042" not in response.content.decode()
    assert_nothing_happened(dev)


def test_pasted_text_over_the_limit(users, dev):
    with pytest.raises(ValidationError, match="larger than 1024 KB"):
        services.import_plan(environment=dev, text="A=" + "x" * (1024 * 1024) + "\n")


def test_empty_input(users, dev):
    with pytest.raises(ValidationError, match="No variables found"):
        services.import_plan(environment=dev, text="# only a comment\n")
    client = Client()
    client.force_login(users["operator"])
    response = client.post(reverse("environments:env_import", args=[dev.pk]), {"text": "  "})
    assert "Paste variables or upload a file" in response.content.decode()
    assert_nothing_happened(dev)


def test_expired_or_foreign_preview_token(users, dev, prod):
    client = Client()
    client.force_login(users["operator"])
    r = client.post(reverse("environments:env_import", args=[dev.pk]), {"text": "A=1\n"})
    token = r["Location"].rstrip("/").rsplit("/", 1)[-1]
    # The token belongs to dev: it cannot be applied to prod.
    r = client.post(reverse("environments:env_import_preview", args=[prod.pk, token]))
    assert r.status_code == 302
    r = client.post(reverse("environments:env_import_preview", args=[dev.pk, "nope"]))
    assert r.status_code == 302
    assert_nothing_happened(prod)
    assert not ConfigVar.objects.exists()
