"""Load drill: ten operators and approvers work one production environment at once, end to end.

gunicorn (several sync worker processes, production settings) serves the portal from the test
database; ten threads, each a different operator or approver, drive it the way browsers do
(CSRF tokens, htmx posts, redirects, flash messages). Two of them log in through the login form
(django-axes, PBKDF2), the others carry the session such a login leaves.

a) all ten race to sign off every step of a 40-step run on production, approvers give the second
   sign-offs; then the operators race to complete the run while the approvers race to sign its
   one optional step (a sign-off never lands on the completed run);
b) each person files a change request against a production variable (two pairs on the same
   variable), the five approvers race to approve every request they did not write;
c) afterwards the audit chain verifies (``manage.py audit_verify`` in a subprocess), its seq has
   no gaps, and every audit event of the drill belongs to exactly one successful request (found
   by the ``X-Request-ID`` each request carried), the refused ones left none.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from django.utils import timezone

from environments.choices import ChangeRequestStatus, Tier
from environments.models import ChangeRequest, ConfigVar
from environments.payloads import value_state
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import chain_head
from runbooks import services as runbook_services
from runbooks.choices import RunStatus, StepStatus
from runbooks.models import Run, Step, StepRun
from tests.environments.factories import ConfigVarFactory
from tests.factories import PASSWORD, EnvironmentFactory, ProjectFactory

from .operator_client import (
    Outcome,
    PortalClient,
    Recorder,
    Response,
    Server,
    database_env,
    page_error,
    step_error,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

REPO = settings.BASE_DIR
GUNICORN_WORKERS = 4
APPLICATION_NAME = "opsportal-operator-drill"
OPERATORS = [f"oper{i}" for i in range(1, 6)]
APPROVERS = [f"appr{i}" for i in range(1, 6)]
PEOPLE = OPERATORS + APPROVERS
# 40 required steps, every 4th needs a second sign-off, plus one optional step at the end
PHASES, STEPS_PER_PHASE, SECOND_EVERY = 4, 10, 4
OPTIONAL_STEP = "Post a release note"
# Two people log in through the login form (PBKDF2 as in production, ~0.5 s of CPU each); the
# others get a session the way a completed login leaves it, so the drill stays short.
FORM_LOGINS = {"oper1", "appr1"}
# Who files a change request on which production variable: two pairs collide on one variable.
CR_PLAN = {
    "oper1": "SHARED_A",
    "oper2": "SHARED_A",
    "oper3": "SHARED_B",
    "appr1": "SHARED_B",
    "oper4": "VAR_C",
    "oper5": "VAR_D",
    "appr2": "VAR_E",
    "appr3": "VAR_F",
    "appr4": "VAR_G",
    "appr5": "VAR_H",
}
# The first request each approver approves when the phase opens: the same-variable pairs are
# applied at the same moment by two different approvers.
FIRST_APPROVAL = {"appr1": "oper1", "appr2": "oper2", "appr3": "oper3", "appr4": "appr1"}
EVENTS_OF = {
    "login": ["auth.login.succeeded"],
    "cr_create": ["changerequest.created"],
    "sign": ["runbook.step.signed_off"],
    "second": ["runbook.step.second_signed"],
    "approve": ["changerequest.approved", "configvar.updated", "changerequest.applied"],
    "complete": ["runbook.run.completed"],
    "withdraw": ["changerequest.withdrawn"],
}
REFUSALS = {
    "sign": ("already signed off this step", "is completed; it is closed"),
    "second": (
        "already fully signed off",
        "not waiting for a second sign-off",
        "must come from a different person",
    ),
    "approve": (
        "is already approved and applied",
        "is already stale",
        "The environment changed since",
    ),
}


def new_value(key: str, author: str) -> str:
    return f"{key.lower()}-by-{author}"


def plan_markdown() -> str:
    lines = ["# Production release drill", ""]
    for p in range(1, PHASES + 1):
        lines += [f"## Phase {p}", ""]
        lines += [f"- [ ] Step {p}.{i:02d}" for i in range(1, STEPS_PER_PHASE + 1)]
        lines.append("")
    lines += ["## Wrap-up", "", f"- [ ] {OPTIONAL_STEP}", ""]
    return "\n".join(lines)


def make_people(user_factory) -> dict:
    """Ten users sharing one real PBKDF2 hash: gunicorn checks it as in production, the test
    pays for one hash instead of ten."""
    people = {name: user_factory("operator", username=name) for name in OPERATORS}
    people |= {name: user_factory("approver", username=name) for name in APPROVERS}
    hasher = PBKDF2PasswordHasher()
    encoded = hasher.encode(PASSWORD, hasher.salt())
    get_user_model().objects.filter(pk__in=[u.pk for u in people.values()]).update(password=encoded)
    for user in people.values():
        user.password = encoded  # the session hash is derived from it
    return people


def make_run(admin, prod) -> Run:
    version = runbook_services.runbook_import(
        actor=admin, text=plan_markdown(), source_name="release-drill.md"
    )
    titles = [s.title for s in Step.objects.for_version(version)][SECOND_EVERY - 1 :: SECOND_EVERY]
    for title in titles:
        step = Step.objects.for_version(version).get(title=title)
        version = runbook_services.step_update(
            actor=admin, step=step, title=title, body="", required=True,
            requires_second_signoff=True,
        )  # fmt: skip
    step = Step.objects.for_version(version).get(title=OPTIONAL_STEP)
    version = runbook_services.step_update(
        actor=admin, step=step, title=OPTIONAL_STEP, body="", required=False,
        requires_second_signoff=False,
    )  # fmt: skip
    # Only the marked steps take a second person (the default would be every step on prod).
    runbook_services.runbook_update(
        actor=admin, runbook=version.runbook, allowed_urls="", second_signoff="marked"
    )
    now = timezone.now()
    return runbook_services.run_start(
        actor=admin, version=version, environment=prod,
        planned_start=now, planned_end=now + timedelta(hours=2),
    )  # fmt: skip


class Drill:
    """What the ten people do; every outcome goes to the shared recorder."""

    def __init__(self, *, run: Run, prod, variables: dict[str, int], recorder: Recorder):
        self.run, self.prod, self.recorder = run, prod, recorder
        self.variables = variables  # key -> ConfigVar pk
        srs = list(StepRun.objects.filter(run=run).select_related("step").order_by("pk"))
        self.optional = next(sr.pk for sr in srs if not sr.step.required)
        self.step_runs = [sr.pk for sr in srs if sr.step.required]
        self.second_steps = {sr.pk for sr in srs if sr.step.requires_second_signoff}
        self.cr_of: dict[str, int] = {}  # author -> change request id
        self.barrier = threading.Barrier(len(PEOPLE), timeout=90)
        self.marks: list[tuple[str, float]] = []

    def phase(self, name: str) -> None:
        """Wait until everyone is here; the phases are timed from barrier to barrier."""
        if self.barrier.wait() == 0:
            self.marks.append((name, time.perf_counter()))

    def note(self, client, action: str, target: int, ok: bool, message: str, r: Response):
        return self.recorder.outcome(
            Outcome(client.username, action, target, ok, message, r.request_id, r.status)
        )

    # --- the actions -------------------------------------------------------------------------
    def login(self, client) -> None:
        if client.username in FORM_LOGINS:
            r = client.login(PASSWORD)
            self.note(client, "login", 0, True, "", r)

    def create_change_request(self, client) -> None:
        key = CR_PLAN[client.username]
        path = f"/environments/variables/{self.variables[key]}/edit/"
        token, _ = client.form_token(path, label="variable form")
        r = client.post(
            path,
            {
                "value": new_value(key, client.username),
                "secret": "no",
                "description": "", "example": "", "owner": "", "source": "",
                "rotation_period_days": "",
                "reason": f"drill change by {client.username}",
            },
            label="cr create",
            token=token,
        )  # fmt: skip
        m = re.fullmatch(r"/environments/change-requests/(\d+)/", r.location)
        assert r.status == 302 and m, (client.username, r.status, r.location, r.text[-2000:])
        self.cr_of[client.username] = int(m.group(1))
        self.note(client, "cr_create", int(m.group(1)), True, "", r)
        shown = client.follow(r, label="cr page")
        assert any(f"#{m.group(1)} created" in text for _, text in shown), shown

    def step_action(self, client, token: str, sr_pk: int, action: str) -> None:
        fields = {"note": f"{action} by {client.username}"}
        if action == "sign":
            fields["evidence_text"] = f"checked by {client.username}"
        r = client.post(
            f"/runbooks/step-runs/{sr_pk}/{action}/", fields,
            label=action, token=token, htmx=True, multipart=action == "sign",
        )  # fmt: skip
        assert r.status == 200, (client.username, action, sr_pk, r.status, r.text[:500])
        error = step_error(r.text)
        self.note(client, action, sr_pk, not error, error, r)
        if not error:
            who = "Second sign-off by" if action == "second" else "Signed by"
            assert f"{who} <strong>{client.username}</strong>" in r.text, r.text[:2000]

    def decide(self, client, cr_pk: int, decision: str) -> None:
        token, _ = client.form_token(f"/environments/change-requests/{cr_pk}/", label="cr page")
        fields = {"reason": f"{decision} by {client.username}"}
        if decision == "approve":
            fields["confirm"] = self.prod.name
        r = client.post(
            f"/environments/change-requests/{cr_pk}/{decision}/", fields,
            label=decision, token=token,
        )  # fmt: skip
        if r.status == 403:
            self.note(client, decision, cr_pk, False, "403", r)
            return
        if r.status == 400:
            # refused by the service: the request's page again, the reason above the form
            self.note(client, decision, cr_pk, False, page_error(r.text), r)
            return
        assert r.status == 302, (client.username, decision, cr_pk, r.status)
        shown = client.follow(r, label="cr page")
        ok = any(level == "success" for level, _ in shown)
        message = " ".join(text for level, text in shown if level == "danger")
        self.note(client, decision, cr_pk, ok, message, r)

    def run_page(self, client) -> str:
        """Open the run: every required step is closed by now, the optional one is open."""
        token, page = client.form_token(f"/runbooks/runs/{self.run.pk}/", label="run page")
        total = len(self.step_runs) + 1
        assert f'progress-count">{total - 1} of {total} steps closed' in page.text
        return token

    def complete(self, client, token: str) -> None:
        path = f"/runbooks/runs/{self.run.pk}/"
        r = client.post(f"{path}complete/", {}, label="complete", token=token)
        assert r.status == 302, (client.username, r.status)
        shown = client.follow(r, label="run page")
        ok = ("success", "Run completed.") in shown
        message = " ".join(text for level, text in shown if level == "danger")
        self.note(client, "complete", self.run.pk, ok, message, r)

    # --- one person's afternoon (runs in its own thread, never touches the ORM) --------------
    def person(self, client, seed: int) -> None:
        rnd = random.Random(seed)
        name = client.username
        approver = name in APPROVERS
        self.login(client)
        self.phase("sign-offs + change requests")
        self.create_change_request(client)
        token, _ = client.form_token(f"/runbooks/runs/{self.run.pk}/", label="run page")
        for sr_pk in rnd.sample(self.step_runs, len(self.step_runs)):
            self.step_action(client, token, sr_pk, "sign")
            if approver and sr_pk in self.second_steps:
                self.step_action(client, token, sr_pk, "second")
        self.phase("approvals + second sign-offs")
        if approver:
            first = FIRST_APPROVAL.get(name)
            others = [a for a in PEOPLE if a not in (name, first)]
            order = ([first] if first else []) + rnd.sample(others, len(others))
            order.insert(rnd.randrange(1, len(order)), name)  # a self-approval: refused
            for author in order:
                self.decide(client, self.cr_of[author], "approve")
            for sr_pk in rnd.sample(sorted(self.second_steps), len(self.second_steps)):
                self.step_action(client, token, sr_pk, "second")
        else:
            # an operator may not approve: refused before any service is called
            self.decide(client, self.cr_of[rnd.choice([a for a in PEOPLE if a != name])], "approve")
        self.phase("progress")
        token = self.run_page(client)
        self.phase("complete vs sign + withdraw")
        if approver:
            self.step_action(client, token, self.optional, "sign")
        else:
            self.complete(client, token)
        own = self.cr_of[name]
        page = client.get(f"/environments/change-requests/{own}/", label="cr page")
        if f"/environments/change-requests/{own}/withdraw/" in page.text:
            self.decide(client, own, "withdraw")
        self.phase("end")

    def durations(self) -> list[tuple[str, float]]:
        return [(n, t1 - t0) for (n, t0), (_, t1) in zip(self.marks, self.marks[1:], strict=False)]


def run_people(drill: Drill, clients: dict[str, PortalClient], seed: int) -> None:
    errors: list[BaseException] = []

    def work(i: int, client: PortalClient) -> None:
        try:
            drill.person(client, seed + i)
        except BaseException as exc:
            errors.append(exc)
            drill.barrier.abort()  # release everyone: no thread waits for a dead one
        finally:
            client.close()

    threads = [
        threading.Thread(target=work, args=(i, c), name=f"drill-{c.username}", daemon=True)
        for i, c in enumerate(clients.values())
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if real or errors:
        raise (real or errors)[0]


def session_key(user) -> str:
    """A database session as a completed login leaves it."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


def server_backends() -> int:
    """Connections the gunicorn workers hold to the test database."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [APPLICATION_NAME],
        )
        return cur.fetchone()[0]


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_ten_operators_sign_and_approve_on_production_at_once(
    postgres_only, user_factory, settings, tmp_path
):
    started = time.perf_counter()
    seed = int(os.environ.get("DRILL_SEED", random.randrange(1_000_000)))
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    people = make_people(user_factory)
    admin = user_factory("admin", username="drill-admin")
    prod = EnvironmentFactory(
        project=ProjectFactory(name="drill.example", slug="drill"),
        name="prod", tier=Tier.PRODUCTION, protected=True,
    )  # fmt: skip
    initial = {key: f"{key.lower()}-initial" for key in sorted(set(CR_PLAN.values()))}
    variables = {
        key: ConfigVarFactory(environment=prod, key=key, raw=value, secret=False).pk
        for key, value in initial.items()
    }
    run = make_run(admin, prod)
    setup_seq = chain_head().seq
    timings = {"test data": time.perf_counter() - started}

    recorder = Recorder()
    drill = Drill(run=run, prod=prod, variables=variables, recorder=recorder)
    env = {
        **os.environ,
        **database_env(connection.settings_dict, application_name=APPLICATION_NAME),
        "DEBUG": "False",
        "SECRET_KEY": settings.SECRET_KEY,
        "FINGERPRINT_KEY": settings.FINGERPRINT_KEY,
        "OPSPORTAL_TESTING": "0",
        "Q_SYNC": "0",
        "STATIC_ROOT": str(tmp_path / "static"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    server = Server(root=REPO, env=env, workers=GUNICORN_WORKERS, log=tmp_path / "gunicorn.log")
    try:
        mark = time.perf_counter()
        server.collectstatic()
        timings["collectstatic"] = time.perf_counter() - mark
        mark = time.perf_counter()
        server.start()
        ready = time.perf_counter()
        timings["gunicorn ready"] = ready - mark
        clients = {name: PortalClient(server, name, recorder) for name in PEOPLE}
        for name, client in clients.items():
            if name not in FORM_LOGINS:
                client.cookies[settings.SESSION_COOKIE_NAME] = session_key(people[name])
        drill.marks.append(("logins", time.perf_counter()))
        run_people(drill, clients, seed)
        finished = time.perf_counter()
        # persistent connections (CONN_MAX_AGE): at most one per sync worker, none leaked
        open_connections = server_backends()
    except BaseException:
        print(f"seed {seed}; gunicorn log:\n{server.tail()}")
        raise
    finally:
        server.stop()
        # The workers' persistent connections must be gone before pytest-django flushes (and
        # at the end drops) the test database, also when the drill failed.
        released = wait_until(lambda: server_backends() == 0, 15)
    log = server.tail(None)

    # --- the server: no errors, and its workers let go of the database ---------------------
    statuses = Counter(h.status for h in recorder.hits)
    assert not [h for h in recorder.hits if h.status >= 500], (statuses, log)
    # 403s are logged as warnings (with a traceback); a 500 or a worker crash is an error
    assert not re.search(r"\b(ERROR|CRITICAL)\b", log), log
    assert released, "gunicorn's workers left connections to the test database"
    assert 0 < open_connections <= GUNICORN_WORKERS, open_connections

    mark = time.perf_counter()
    check_signoffs(drill, recorder)
    check_change_requests(drill, recorder, initial)
    check_audit(recorder, setup_seq, env)
    timings["checks"] = time.perf_counter() - mark
    print(report(drill, recorder, timings, ready, finished, seed))


# --- what must hold afterwards -----------------------------------------------------------------
def by_target(outcomes) -> dict[int, list[Outcome]]:
    grouped: dict[int, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        grouped[o.target].append(o)
    return grouped


def assert_refusals(outcomes, action: str) -> None:
    for o in outcomes:
        if not o.ok:
            assert any(text in o.message for text in REFUSALS[action]), o


def check_signoffs(drill: Drill, recorder: Recorder) -> None:
    signs = by_target(recorder.of("sign"))
    seconds = by_target(recorder.of("second"))
    optional = signs.pop(drill.optional)
    assert sorted(signs) == drill.step_runs
    assert all(len(attempts) == len(PEOPLE) for attempts in signs.values())
    assert_refusals(recorder.of("sign"), "sign")
    assert_refusals(recorder.of("second"), "second")
    events = defaultdict(list)
    for e in AuditEvent.objects.filter(
        action__in=["runbook.step.signed_off", "runbook.step.second_signed"]
    ).select_related("actor"):
        events[(e.action, int(e.target_id))].append(e)
    for sr in StepRun.objects.filter(run=drill.run, step__required=True).select_related(
        "signed_by", "second_signed_by", "step"
    ):
        (won,) = [o for o in signs[sr.pk] if o.ok]  # exactly one winner per step
        assert sr.signed_by.username == won.user
        (event,) = events[("runbook.step.signed_off", sr.pk)]
        assert event.actor.username == won.user and event.request_id == won.request_id
        assert sr.status == StepStatus.DONE
        if sr.pk in drill.second_steps:
            (second,) = [o for o in seconds[sr.pk] if o.ok]
            assert second.user in APPROVERS and second.user != won.user
            assert sr.second_signed_by.username == second.user
            (event,) = events[("runbook.step.second_signed", sr.pk)]
            assert event.actor.username == second.user
            assert event.request_id == second.request_id
            # "a different person" is the refusal of the first signer only
            refused_self = {o.user for o in seconds[sr.pk] if "different person" in o.message}
            assert refused_self <= {won.user}
        else:
            assert sr.second_signed_by is None and sr.pk not in seconds
            assert ("runbook.step.second_signed", sr.pk) not in events
    run = Run.objects.get(pk=drill.run.pk)
    completes = recorder.of("complete")
    (done,) = [o for o in completes if o.ok]
    assert run.status == RunStatus.COMPLETED and run.finished_by.username == done.user
    assert len(completes) == len(OPERATORS)
    assert all("already completed" in o.message for o in completes if not o.ok), completes

    # the optional step, signed while the run was being completed: before it, or refused
    assert len(optional) == len(APPROVERS)
    sr = StepRun.objects.select_related("signed_by").get(pk=drill.optional)
    completed = AuditEvent.objects.get(action="runbook.run.completed", target_id=str(run.pk))
    signed = events[("runbook.step.signed_off", sr.pk)]
    wins = [o for o in optional if o.ok]
    assert len(wins) <= 1 and len(signed) == len(wins)
    if wins:
        assert sr.status == StepStatus.DONE and sr.signed_by.username == wins[0].user
        assert signed[0].seq < completed.seq
    else:
        assert sr.status == StepStatus.PENDING
    late = [o for o in optional if not o.ok and "closed" in o.message]
    assert all(o.ok or "already signed off" in o.message or o in late for o in optional)


def check_change_requests(drill: Drill, recorder: Recorder, initial: dict) -> None:
    crs = {cr.pk: cr for cr in ChangeRequest.objects.select_related("author", "decided_by")}
    assert sorted(crs) == sorted(drill.cr_of.values())
    author_of = {pk: name for name, pk in drill.cr_of.items()}
    approvals = recorder.of("approve")
    for o in approvals:
        if o.user in OPERATORS or author_of[o.target] == o.user:
            # no approver permission, or their own request: 403, nothing happens
            assert not o.ok and o.status == 403, o
        elif not o.ok:
            assert_refusals([o], "approve")
    assert {o.user for o in approvals if author_of[o.target] == o.user} == set(APPROVERS)
    applied = {}
    for pk, cr in crs.items():
        wins = [o for o in approvals if o.target == pk and o.ok]
        assert len(wins) <= 1, wins  # never applied twice
        if wins:
            assert cr.status == ChangeRequestStatus.APPLIED
            assert cr.decided_by.username == wins[0].user != cr.author.username
            applied[pk] = cr
        else:
            # lost the race for its variable: marked stale when the other one applied (in the
            # same transaction), so every approval of it is refused
            assert cr.status == ChangeRequestStatus.STALE, cr
            refused = [o for o in approvals if o.target == pk and o.status == 400]
            assert refused and all(
                "already stale" in o.message or "changed since" in o.message for o in refused
            ), refused
    keys = Counter(CR_PLAN[crs[pk].author.username] for pk in applied)
    assert keys == Counter({key: 1 for key in set(CR_PLAN.values())}), keys

    # No lost update: replaying the applied requests in audit order, each one's "before" is the
    # state it found, and the result is the variables as they are now. Values are compared by
    # fingerprint: a value that looks like a credential is never stored in the clear.
    state = {key: value_state(key, value)["fingerprint"] for key, value in initial.items()}
    for event in AuditEvent.objects.filter(action="changerequest.applied").order_by("seq"):
        cr = crs[int(event.target_id)]
        for op in cr.payload["vars"]:
            assert state[op["key"]] == op["before"]["fingerprint"], (cr, op["key"])
            state[op["key"]] = op["after"]["fingerprint"]
    now = dict(ConfigVar.objects.filter(environment=drill.prod).values_list("key", "fingerprint"))
    assert state == now
    for pk in applied:
        author = crs[pk].author.username
        key = CR_PLAN[author]
        assert now[key] == value_state(key, new_value(key, author))["fingerprint"]
    updates = AuditEvent.objects.filter(action="configvar.updated")
    assert updates.count() == len(applied)


def check_audit(recorder: Recorder, setup_seq: int, env: dict) -> None:
    verify = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "audit_verify"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Audit chain intact" in verify.stdout
    head = chain_head()
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, head.seq + 1))  # no gap, no fork

    drill_events = defaultdict(list)
    for e in AuditEvent.objects.filter(seq__gt=setup_seq).select_related("actor").order_by("seq"):
        drill_events[e.request_id].append(e)
    expected = Counter()
    for o in recorder.outcomes:
        events = drill_events.pop(o.request_id, [])
        if not o.ok:
            assert events == [], (o, events)
            continue
        actions = [e.action for e in events]
        if o.action == "approve":
            # an applied request marks the open ones on the same variables stale, in its request
            stale = actions[len(EVENTS_OF["approve"]) :]
            assert set(stale) <= {"changerequest.stale"}, (o, events)
            actions = actions[: len(EVENTS_OF["approve"])]
            expected.update(stale)
        assert actions == EVENTS_OF[o.action], (o, events)
        for e in events:
            assert e.actor.username == o.user, (o, e)
            assert e.user_agent == f"operator-drill ({o.user})" and e.ip == "127.0.0.1"
        expected.update(EVENTS_OF[o.action])
    assert not drill_events, f"audit events no successful request accounts for: {drill_events}"
    actual = Counter(AuditEvent.objects.filter(seq__gt=setup_seq).values_list("action", flat=True))
    assert actual == expected


def report(drill, recorder, timings, ready, finished, seed) -> str:
    hits = recorder.hits
    span = finished - ready
    lines = [
        f"operator drill (seed {seed}): {len(hits)} requests in {span:.1f}s, "
        f"{len(hits) / span:.0f} req/s, {len(PEOPLE)} clients, gunicorn x{GUNICORN_WORKERS}; "
        + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
    ]
    lines += [f"  {name:30} {seconds:5.1f}s" for name, seconds in drill.durations()]
    per_label = defaultdict(list)
    for h in hits:
        per_label[h.label].append(h.ms)
    for label, ms in sorted(per_label.items()):
        ms.sort()
        p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
        lines.append(f"  {label:30} n={len(ms):4d} p50={ms[len(ms) // 2]:6.1f}ms p95={p95:6.1f}ms")
    outcomes = Counter((o.action, o.ok) for o in recorder.outcomes)
    lines.append(
        "  outcomes: "
        + ", ".join(
            f"{a} {'ok' if ok else 'refused'} {n}" for (a, ok), n in sorted(outcomes.items())
        )
    )
    return "\n".join(lines)
