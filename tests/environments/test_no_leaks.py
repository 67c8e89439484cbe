"""No secret leaks: import secrets that are unique sentinels, then look everywhere for them.

Pages, exports, change requests, audit rows and exports, command JSON, captured logs and every
row of every table (sessions decoded) must be free of every sentinel.
"""

import json
import logging
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from environments.models import ChangeRequest, ConfigVar
from opsportal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

# Each secret carries a unique token; a hint may show the last 4 characters, never the token.
TOKENS = {
    key: f"SNTL{i:02d}q7Xk{i * 7919:05d}"
    for i, key in enumerate(
        [
            "STRIPE_SECRET_KEY",
            "CLERK_SECRET_KEY",
            "CLERK_WEBHOOK_SECRET",
            "CSRF_SECRET",
            "DATABASE_URL",
            "UPSTASH_REDIS_URL",
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "SESSION_PASSWORD",
            "PRIVATE_KEY",
        ]
    )
}
T = TOKENS
SENTINELS = {
    "STRIPE_SECRET_KEY": f"sk_live_{T['STRIPE_SECRET_KEY']}tail",
    "CLERK_SECRET_KEY": f"sk_test_{T['CLERK_SECRET_KEY']}tail",
    "CLERK_WEBHOOK_SECRET": f"whsec_{T['CLERK_WEBHOOK_SECRET']}tail",
    "CSRF_SECRET": f"{T['CSRF_SECRET']}-9f7d2c1b-e4a8",
    "DATABASE_URL": f"postgres://app:{T['DATABASE_URL']}@db.example.com:5432/app",
    "UPSTASH_REDIS_URL": f"rediss://default:{T['UPSTASH_REDIS_URL']}@eu1.upstash.io:6379",
    "OPENAI_API_KEY": f"sk-proj-{T['OPENAI_API_KEY']}tail",
    "ANTHROPIC_API_KEY": f"sk-ant-api03-{T['ANTHROPIC_API_KEY']}tail",
    "SESSION_PASSWORD": f"{T['SESSION_PASSWORD']} password with spaces",
    "PRIVATE_KEY": f"-----BEGIN KEY-----\n{T['PRIVATE_KEY']}\n-----END KEY-----",
}
ROTATED = "SNTLrotated0001valueX"
NEEDLES = [*TOKENS.values(), ROTATED[:-1]]
PUBLIC = {
    "NEXT_PUBLIC_CONVEX_URL": "https://basic-oriole-337.convex.cloud",
    "SITE_NAME": "Leak test",
}


def dotenv():
    lines = []
    for k, v in SENTINELS.items():
        v = v.replace("\n", "\\n")
        lines.append(f'{k}="{v}"')
    lines += [f"{k}={v}" for k, v in PUBLIC.items()]
    return "\n".join(lines) + "\n"


def assert_clean(text: str, where: str):
    for needle in NEEDLES:
        assert needle not in text, f"{needle!r} leaked in {where}"


def test_no_secret_appears_anywhere(users, dev, prod, caplog, capsys, tmp_path):
    caplog.set_level(logging.DEBUG)
    operator, approver = Client(), Client()
    operator.force_login(users["operator"])
    approver.force_login(users["approver"])

    # Import into dev (applied) and prod (change request) through the web.
    previews = []
    for env in (dev, prod):
        r = operator.post(
            reverse("environments:env_import", args=[env.pk]),
            {"text": dotenv(), "format": "auto", "reason": "leak test"},
        )
        assert r.status_code == 302, r.content
        preview_url = r["Location"]
        page = operator.get(preview_url)
        assert page.status_code == 200
        assert b"fingerprint" in page.content or b"added" in page.content
        previews.append(page.content.decode())
        r = operator.post(preview_url)
        assert r.status_code == 302
    assert dev.variables.count() == len(SENTINELS) + len(PUBLIC)
    cr = ChangeRequest.objects.get()
    cr_page = approver.get(cr.get_absolute_url()).content.decode()
    approver.post(
        reverse("environments:changerequest_decide", args=[cr.pk, "approve"]), {"confirm": "prod"}
    )
    cr.refresh_from_db()
    assert cr.status == "applied"
    assert prod.variables.count() == len(SENTINELS) + len(PUBLIC)

    # A rotation and an edit through the forms, and a second (changed) import preview.
    var = dev.variables.get(key="CSRF_SECRET")
    r = operator.post(
        reverse("environments:configvar_rotate", args=[var.pk]), {"new_value": ROTATED}
    )
    assert r.status_code == 302
    assert dev.variables.get(key="CSRF_SECRET").last_rotated_at is not None
    r = operator.post(
        reverse("environments:configvar_edit", args=[var.pk]),
        {"value": ROTATED + "x", "secret": "yes", "description": "csrf", "reason": ""},
    )
    assert r.status_code == 302
    changed = dotenv().replace(T["STRIPE_SECRET_KEY"], T["STRIPE_SECRET_KEY"] + "B")
    r = operator.post(
        reverse("environments:env_import", args=[prod.pk]), {"text": changed, "reason": "again"}
    )
    assert r.status_code == 302, r.content.decode()[-3000:]
    second_preview = operator.get(r["Location"]).content.decode()
    assert "fingerprint changed" in second_preview

    # Walk the pages.
    pages = [*previews, cr_page, second_preview]
    urls = [
        reverse("dashboard"),
        reverse("environments:project_list"),
        reverse("environments:project_detail", args=[dev.project.slug]),
        reverse("environments:project_compare", args=[dev.project.slug]),
        reverse("environments:project_compare", args=[dev.project.slug])
        + f"?source={dev.pk}&target={prod.pk}",
        reverse("environments:changerequest_list") + "?status=applied",
        cr.get_absolute_url(),
        reverse("environments:changerequest_list"),
        reverse("environments:env_import", args=[prod.pk]),
        reverse("audit:event_list"),
        reverse("audit:operator_timeline", args=["otto"]),
        reverse("audit:export_csv"),
        reverse("audit:export_json"),
    ]
    for fmt in ("env-example", "md", "csv"):
        urls.append(reverse("environments:project_export", args=[dev.project.slug, fmt]))
    for env in (dev, prod):
        urls += [env.get_absolute_url(), reverse("environments:environment_edit", args=[env.pk])]
    for v in ConfigVar.objects.all():
        for name in ("configvar_edit", "configvar_rotate", "configvar_delete"):
            urls.append(reverse(f"environments:{name}", args=[v.pk]))
    for event in AuditEvent.objects.all():
        urls.append(reverse("audit:event_detail", args=[event.seq]))
    for url in urls:
        r = approver.get(url)
        assert r.status_code == 200, url
        body = b"".join(r.streaming_content) if r.streaming else r.content
        pages.append(body.decode())
    for i, page in enumerate(pages):
        assert_clean(page, f"page {i}")
    env_example = approver.get(
        reverse("environments:project_export", args=[dev.project.slug, "env-example"])
    ).content.decode()
    assert "STRIPE_SECRET_KEY=" in env_example and "NEXT_PUBLIC_CONVEX_URL=" in env_example

    # Command output.
    path = tmp_path / "again.env"
    path.write_text(changed)
    outputs = []
    for args in (
        [
            "env_import",
            str(path),
            "--project",
            dev.project.slug,
            "--environment",
            "prod",
            "--as",
            "otto",
            "--dry-run",
            "--json",
        ],
        [
            "env_import",
            str(path),
            "--project",
            dev.project.slug,
            "--environment",
            "prod",
            "--as",
            "otto",
            "--dry-run",
        ],
        ["change_request", "list", "--as", "anna", "--all", "--json"],
        ["change_request", "show", str(cr.pk), "--as", "anna", "--json"],
    ):
        out = StringIO()
        call_command(*args, stdout=out)
        outputs.append(out.getvalue())
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("env_check", "--project", dev.project.slug, "--json", stdout=out)
    outputs.append(out.getvalue())
    assert json.loads(outputs[0])["changed"][0]["key"] == "STRIPE_SECRET_KEY"
    for i, text in enumerate(outputs):
        assert_clean(text, f"command output {i}")

    # Every row of every table, sessions decoded.
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (table names from the ORM)
            assert_clean(repr(cursor.fetchall()), f"table {table}")
    for session in Session.objects.all():
        assert_clean(json.dumps(session.get_decoded(), default=str), "session")
    for event in AuditEvent.objects.all():
        assert_clean(json.dumps(event.changes) + event.message + event.target_repr, "audit")

    # Logs and anything printed.
    captured = capsys.readouterr()
    assert_clean(caplog.text, "log records")
    assert_clean(captured.out + captured.err, "stdout/stderr")
    assert AuditEvent.objects.filter(action="env.import.applied").count() == 2


def test_the_leak_check_itself_catches_a_leak():
    with pytest.raises(AssertionError, match="leaked in probe"):
        assert_clean(f"<td>{SENTINELS['CSRF_SECRET']}</td>", "probe")
