"""Inventory at scale: import, approval, hygiene and the matrix page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opsportal_bench \
        .venv/bin/python bench/environments_bench.py --vars 500 --envs 4

Creates a fresh project (``bench-<timestamp>``) with ``--envs`` environments, imports ``--vars``
variables into each through the services (the last environment is production: protected, so its
import is a change request that a second user approves), then times ``check_project``, the
promotion checklist and the project page. Audit rows are append-only: run it on a bench database.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from environments import drift, hygiene, services  # noqa: E402
from opsportal.accounts.roles import ensure_roles  # noqa: E402
from opsportal.audit.middleware import request_context  # noqa: E402


def user(name: str, role: str):
    from django.contrib.auth.models import Group

    User = get_user_model()
    u, created = User.objects.get_or_create(username=name)
    if created:
        u.set_unusable_password()
        u.save()
        u.groups.add(Group.objects.get(name=role))
    return u


def dotenv(n: int, env: str) -> str:
    lines = []
    for i in range(n):
        if i % 3 == 0:
            lines.append(f'SERVICE_{i}_SECRET="{env}-secret-{i:05d}-Zk3q9XvB7pLm2RtY8w"')
        elif i % 3 == 1:
            lines.append(f"NEXT_PUBLIC_URL_{i}=https://{env}-svc{i}.example.com/api")
        else:
            lines.append(f"FEATURE_{i}=true")
    return "\n".join(lines) + "\n"


def timed(label: str, fn):
    started = time.perf_counter()
    result = fn()
    print(f"{label:48} {time.perf_counter() - started:8.3f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vars", type=int, default=500)
    parser.add_argument("--envs", type=int, default=4)
    args = parser.parse_args()
    ensure_roles()
    operator, approver = user("bench-operator", "operator"), user("bench-approver", "approver")
    print(f"database: {connection.vendor}; {args.envs} environments × {args.vars} variables")
    with request_context(user_agent="bench"):
        project = services.project_create(actor=operator, name=f"bench-{int(time.time())}")
        envs = []
        names = [f"dev{i}" for i in range(args.envs - 1)] + ["prod"]
        for name in names:
            envs.append(services.environment_create(actor=operator, project=project, name=name))
        for env in envs:
            text = dotenv(args.vars, env.name)
            plan = timed(
                f"import preview {env.name} ({args.vars} vars)",
                lambda env=env, text=text: services.import_plan(environment=env, text=text),
            )
            result = timed(
                f"import apply {env.name}",
                lambda env=env, plan=plan: services.env_import_apply(
                    actor=operator, environment=env, plan=plan, reason="bench"
                ),
            )
            if result.change_request is not None:
                timed(
                    f"approve change request ({args.vars} vars)",
                    lambda cr=result.change_request: services.changerequest_approve(
                        actor=approver, change_request=cr
                    ),
                )
    findings = timed("check_project", lambda: hygiene.check_project(project))
    print(f"  findings: {len(findings)}")
    timed("promotion checklist dev0 → prod", lambda: drift.promotion_checklist(envs[0], envs[-1]))
    client = Client()
    client.force_login(approver)
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        response = timed(
            "project page (matrix + hygiene)", lambda: client.get(project.get_absolute_url())
        )
    print(
        f"  status {response.status_code}, {len(response.content) // 1024} KB, "
        f"{len(ctx.captured_queries)} queries"
    )


if __name__ == "__main__":
    main()
