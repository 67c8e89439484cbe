"""Every write of the runbooks app: imports, edits (new versions), runs, sign-offs, checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django_q.tasks import async_task

from opsportal.accounts.permissions import require
from opsportal.audit.masking import scrub_text
from opsportal.audit.services import record

from .checks import max_latency_requests
from .choices import CheckStatus, CheckType, RunStatus, SecondSignoff, StepKind, StepStatus
from .markdown import ParsedPlan, PlanParseError, parse
from .models import Phase, Run, Runbook, RunbookVersion, Step, StepRun

MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
PERM_IMPORT = "runbooks.add_runbook"
PERM_EDIT = "runbooks.change_step"
PERM_RUN = "runbooks.add_run"
PERM_RUN_CHANGE = "runbooks.change_run"
PERM_SIGN = "runbooks.change_steprun"
PERM_SECOND = "runbooks.second_signoff"
PERM_CHECK = "runbooks.run_check"
# Changing a runbook's settings — the origins its checks may reach above all — is an approver's
# (the role gives ``change_runbook`` to approvers and admins only).
PERM_SETTINGS = "runbooks.change_runbook"


# --- import and versions ----------------------------------------------------------------------
def _step_kind(commands: list, check_type: str) -> str:
    if check_type:
        return StepKind.CHECK
    return StepKind.COMMAND if commands else StepKind.MANUAL


def _step_details(step: dict) -> dict:
    if "details" in step:
        return step["details"]
    found = {k: step.get(k) for k in ("markers", "fields", "verify")}
    return {k: v for k, v in found.items() if v}


def _write_phases(version: RunbookVersion, phases: list[dict]) -> int:
    """Write phases and steps; a step's parent is named by ``parent`` (its index in a parsed
    phase) or ``parent_id`` (the copied version's step id). Steps are written a depth at a
    time so a sub-step's parent has its id."""
    count = 0
    for p_order, phase in enumerate(phases, start=1):
        ph = Phase.objects.create(
            version=version,
            order=p_order,
            title=phase["title"][:300],
            description=phase.get("description", ""),
            group=(phase.get("group") or "")[:300],
            rollback=phase.get("rollback", False),
            requires_previous=phase.get("requires_previous", False),
        )
        pending = []
        for s_order, step in enumerate(phase["steps"], start=1):
            check_type = step.get("check_type", "")
            copied = "id" in step
            key = step["id"] if copied else s_order - 1
            parent_key = step.get("parent_id") if copied else step.get("parent")
            obj = Step(
                phase=ph,
                order=s_order,
                ref=str(step.get("ref", ""))[:100],
                title=step["title"][:500] or f"Step {s_order}",
                body=step.get("body", ""),
                commands=step.get("commands", []),
                kind=_step_kind(step.get("commands", []), check_type),
                required=step.get("required", True),
                requires_second_signoff=step.get("requires_second_signoff", False),
                initially_checked=step.get("checked", False),
                check_type=check_type,
                check_config=step.get("check_config", {}),
                depth=step.get("depth", 0) if parent_key is not None else 0,
                source=str(step.get("source", ""))[:20],
                source_line=step.get("line", 0) or 0,
                details=_step_details(step),
            )
            pending.append((obj.depth, key, parent_key, obj))
        made: dict = {}
        for depth in sorted({d for d, *_ in pending}):
            batch = [(key, parent_key, obj) for d, key, parent_key, obj in pending if d == depth]
            for _, parent_key, obj in batch:
                obj.parent = made.get(parent_key) if parent_key is not None else None
            Step.objects.bulk_create([obj for *_, obj in batch])
            made.update({key: obj for key, _, obj in batch})
        count += len(pending)
    return count


def _validate_allowed_urls(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    for line in lines:
        parts = urlsplit(line)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(
                {"allowed_urls": f"{line!r} is not an http(s) URL such as https://example.com."}
            )
    return "\n".join(lines)


def runbook_import(
    *,
    actor,
    text: str,
    source_name: str = "",
    runbook: Runbook | None = None,
    project=None,
    allowed_urls: str = "",
) -> RunbookVersion:
    """Parse ``text`` and store it as a new version (of ``runbook``, or of a new runbook)."""
    require(actor, PERM_IMPORT, action="import runbooks")
    try:
        plan: ParsedPlan = parse(text, default_title=source_name.rsplit(".", 1)[0])
    except PlanParseError as exc:
        raise ValidationError(str(exc)) from None
    if plan.step_count == 0:
        raise ValidationError(
            "The plan has no steps: add - [ ] items, numbered steps or <task> blocks."
        )
    for step in plan.steps():
        if step.check_type:
            # A check written in the plan is validated like one set in the step form.
            try:
                step.check_config = check_config_clean(step.check_type, step.check_config)
            except ValidationError as exc:
                why = "; ".join(m for msgs in exc.message_dict.values() for m in msgs)
                raise ValidationError(f"Line {step.line}: the check marker: {why}") from None
    allowed_urls = _validate_allowed_urls(allowed_urls)
    if allowed_urls and runbook is None and not (actor and actor.has_perm(PERM_SETTINGS)):
        raise ValidationError(
            {
                "allowed_urls": "Only an approver can set the origins a runbook's checks may "
                "reach: import without them and ask an approver to add them in its settings."
            }
        )
    data = plan.to_dict()
    with transaction.atomic():
        created = runbook is None
        if created:
            runbook = Runbook.objects.create(
                title=plan.title, project=project, allowed_urls=allowed_urls, created_by=actor
            )
        else:
            runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
        number = (runbook.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = RunbookVersion.objects.create(
            runbook=runbook,
            number=number,
            source=text,
            source_name=source_name[:255],
            sha256=RunbookVersion.digest(text),
            metadata=data["metadata"],
            rollback=data["rollback"],
            notes=data["notes"],
            change_summary=f"Imported {source_name}".strip()[:300],
            created_by=actor,
        )
        steps = _write_phases(version, data["phases"])
        record(
            actor=actor,
            action="runbook.imported",
            target=version,
            changes={
                "runbook_created": created,
                "version": number,
                "phases": len(data["phases"]),
                "steps": steps,
                "sha256": version.sha256,
                "source_name": source_name,
                "checkboxes": plan.checkboxes_found,
                "second_signoff_steps": data["counts"]["second_signoff"],
                "checks": data["counts"]["checks"],
                "second_signoff": runbook.second_signoff,
            },
        )
    return version


def _phases_of(version: RunbookVersion) -> list[dict]:
    phases = []
    for phase in version.phases.prefetch_related("steps"):
        phases.append(
            {
                "id": phase.pk,
                "title": phase.title,
                "description": phase.description,
                "group": phase.group,
                "rollback": phase.rollback,
                "requires_previous": phase.requires_previous,
                "steps": [
                    {
                        "id": s.pk,
                        "ref": s.ref,
                        "title": s.title,
                        "body": s.body,
                        "commands": s.commands,
                        "checked": s.initially_checked,
                        "required": s.required,
                        "requires_second_signoff": s.requires_second_signoff,
                        "check_type": s.check_type,
                        "check_config": s.check_config,
                        "parent_id": s.parent_id,
                        "depth": s.depth,
                        "source": s.source,
                        "line": s.source_line,
                        "details": s.details,
                    }
                    for s in phase.steps.all()
                ],
            }
        )
    return phases


def _new_version(
    *, actor, base: RunbookVersion, action: str, summary: str, mutate: Callable, changes: dict
) -> RunbookVersion:
    """Copy ``base`` into a new version, let ``mutate`` change the copied phases, audit it."""
    require(actor, PERM_EDIT, action="edit runbooks")
    phases = _phases_of(base)
    mutate(phases)
    with transaction.atomic():
        runbook = Runbook.objects.select_for_update().get(pk=base.runbook_id)
        number = (runbook.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = RunbookVersion.objects.create(
            runbook=runbook,
            number=number,
            source=base.source,
            source_name=base.source_name,
            sha256=base.sha256,
            metadata=base.metadata,
            rollback=base.rollback,
            notes=base.notes,
            change_summary=summary[:300],
            created_by=actor,
        )
        _write_phases(version, phases)
        record(
            actor=actor,
            action=action,
            target=version,
            changes={"from_version": base.number, "version": number, **changes},
        )
    return version


def _find_step(phases: list[dict], step_id: int) -> tuple[dict, int, dict]:
    for phase in phases:
        for idx, s in enumerate(phase["steps"]):
            if s["id"] == step_id:
                return phase, idx, s
    raise ValidationError("That step is not part of this version.")


def check_config_clean(check_type: str, config: dict) -> dict:
    """Validate a step's automated check configuration (used by the form and the service)."""
    config = dict(config or {})
    if check_type in ("", None):
        return {}
    if check_type not in CheckType.values:
        raise ValidationError({"check_type": f"Unknown check type {check_type!r}."})
    if check_type in (CheckType.HTTP, CheckType.LATENCY):
        url = str(config.get("url", "")).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError({"check_config": "The check needs an http(s) URL."})
        config["url"] = url
        config["timeout"] = float(config.get("timeout") or 10)
        if check_type == CheckType.HTTP:
            config["expected_status"] = int(config.get("expected_status") or 200)
            config["contains"] = str(config.get("contains", ""))
        else:
            config["requests"] = max(
                1, min(int(config.get("requests") or 20), max_latency_requests())
            )
            config["percentile"] = str(config.get("percentile") or "p95").lower()
            if config["percentile"] not in ("p50", "p95", "p99"):
                raise ValidationError({"check_config": "Percentile must be p50, p95 or p99."})
            config["threshold_ms"] = float(config.get("threshold_ms") or 500)
    elif check_type == CheckType.ENV_DRIFT:
        if not config.get("other_environment"):
            raise ValidationError({"check_config": "Name the environment to compare with."})
        config["other_environment"] = int(config["other_environment"])
    elif check_type == CheckType.IMPORT_JOB:
        if not config.get("job_id"):
            raise ValidationError({"check_config": "Give the import job id."})
        config["job_id"] = int(config["job_id"])
    elif check_type == CheckType.SAMPLE_VERIFIED:
        # "12 13", "12, 13" or a list: the import jobs a completed sample verification covers
        raw = config.get("job_ids")
        ids = raw if isinstance(raw, list) else re.findall(r"\d+", str(raw or ""))
        if not ids:
            raise ValidationError({"check_config": "Give the import job ids."})
        config["job_ids"] = sorted({int(i) for i in ids})
    return config


def step_update(
    *,
    actor,
    step: Step,
    title: str,
    body: str,
    required: bool,
    requires_second_signoff: bool,
    check_type: str = "",
    check_config: dict | None = None,
) -> RunbookVersion:
    """Edit a step; the result is a new version (runs keep the version they started with)."""
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "A step needs a title."})
    config = check_config_clean(check_type, check_config or {})
    new = {
        "title": title[:500],
        # Browsers send textarea lines with CRLF; the parser stores LF.
        "body": (body or "").replace("\r\n", "\n"),
        "required": bool(required),
        "requires_second_signoff": bool(requires_second_signoff),
        "check_type": check_type or "",
        "check_config": config,
    }
    if all(getattr(step, k) == v for k, v in new.items()):
        # Saving an untouched form must not mint a version (and an audit event) of nothing.
        raise ValidationError("Nothing to change: the step is as it was.")
    if step.requires_second_signoff and not new["requires_second_signoff"]:
        # Otherwise one person could drop the rule and start a new run without it.
        require(actor, PERM_SECOND, action="drop a step's second sign-off")
    changed: dict = {}

    def mutate(phases):
        _, _, s = _find_step(phases, step.pk)
        changed.update({k: {"before": s[k], "after": v} for k, v in new.items() if s[k] != v})
        s.update(new)

    base = step.phase.version
    return _new_version(
        actor=actor,
        base=base,
        action="runbook.step.updated",
        summary=f"Edited step {title[:200]}",
        mutate=mutate,
        changes={"step": title, "fields": changed},
    )


def step_move(*, actor, step: Step, direction: str) -> RunbookVersion:
    """Move a step up or down within its phase; a new version."""
    if direction not in ("up", "down"):
        raise ValidationError("Direction must be up or down.")

    def mutate(phases):
        phase, idx, _ = _find_step(phases, step.pk)
        new_idx = idx - 1 if direction == "up" else idx + 1
        if not 0 <= new_idx < len(phase["steps"]):
            raise ValidationError(f"The step is already at the {'top' if idx == 0 else 'end'}.")
        phase["steps"].insert(new_idx, phase["steps"].pop(idx))

    return _new_version(
        actor=actor,
        base=step.phase.version,
        action="runbook.step.reordered",
        summary=f"Moved step {step.title[:200]} {direction}",
        mutate=mutate,
        changes={"step": step.title, "direction": direction},
    )


def phase_gate_set(*, actor, phase: Phase, requires_previous: bool) -> RunbookVersion:
    """Require (or stop requiring) the previous phase complete before this one; a new version."""

    def mutate(phases):
        for p in phases:
            if p["id"] == phase.pk:
                p["requires_previous"] = bool(requires_previous)

    return _new_version(
        actor=actor,
        base=phase.version,
        action="runbook.phase.updated",
        summary=f"Gate on {phase.title[:200]}: {'on' if requires_previous else 'off'}",
        mutate=mutate,
        changes={"phase": phase.title, "requires_previous": bool(requires_previous)},
    )


def runbook_update(
    *,
    actor,
    runbook: Runbook,
    allowed_urls: str,
    project=None,
    second_signoff: str | None = None,
) -> Runbook:
    """Change a runbook's project, the origins its automated checks may reach and which steps
    need a second sign-off on protected environments (``None`` keeps it) — approvers."""
    require(actor, PERM_SETTINGS, action="change a runbook's project or allowed origins")
    allowed_urls = _validate_allowed_urls(allowed_urls)
    if second_signoff is not None and second_signoff not in SecondSignoff.values:
        raise ValidationError({"second_signoff": f"Unknown setting {second_signoff!r}."})
    with transaction.atomic():
        rb = Runbook.objects.select_for_update().get(pk=runbook.pk)
        before = {
            "allowed_urls": rb.allowed_urls,
            "project": str(rb.project or ""),
            "second_signoff": rb.second_signoff,
        }
        rb.allowed_urls, rb.project = allowed_urls, project
        rb.second_signoff = second_signoff or rb.second_signoff
        rb.save(update_fields=["allowed_urls", "project", "second_signoff"])
        after = {
            "allowed_urls": rb.allowed_urls,
            "project": str(rb.project or ""),
            "second_signoff": rb.second_signoff,
        }
        record(
            actor=actor,
            action="runbook.updated",
            target=rb,
            changes={
                k: {"before": before[k], "after": after[k]} for k in before if before[k] != after[k]
            },
        )
    return rb


# --- runs -------------------------------------------------------------------------------------
def run_start(
    *, actor, version: RunbookVersion, environment, planned_start: datetime, planned_end: datetime
) -> Run:
    require(actor, PERM_RUN, action="start runbook runs")
    if timezone.is_naive(planned_start) or timezone.is_naive(planned_end):
        raise ValidationError("The maintenance window needs aware datetimes.")
    if planned_end <= planned_start:
        raise ValidationError({"planned_end": "The window must end after it starts."})
    runbook = version.runbook
    if runbook.project_id and environment.project_id != runbook.project_id:
        raise ValidationError(
            {"environment": f"This runbook belongs to {runbook.project}; pick one of its envs."}
        )
    with transaction.atomic():
        run = Run.objects.create(
            version=version,
            environment=environment,
            planned_start=planned_start,
            planned_end=planned_end,
            started_by=actor,
            started_at=timezone.now(),
            # Read now: the runbook object the caller holds may predate a settings change.
            second_signoff=Runbook.objects.values_list("second_signoff", flat=True).get(
                pk=runbook.pk
            ),
        )
        steps = Step.objects.for_version(version)
        StepRun.objects.bulk_create([StepRun(run=run, step=s) for s in steps])
        record(
            actor=actor,
            action="runbook.run.started",
            target=run,
            environment=environment,
            changes={
                "runbook": runbook.title,
                "version": version.number,
                "planned_start": planned_start,
                "planned_end": planned_end,
                "steps": len(steps),
                "second_signoff": run.second_signoff,
            },
        )
    return run


def _lock_with_run(pk: int, *related: str) -> StepRun:
    """Lock the step-run row and its run's row.

    The step row serializes two actions on one step; the run row orders every step action
    against ``run_complete`` / ``run_abort`` (which lock it too), so a sign-off can never land
    on a run that was closed while it was being made: whichever commits second sees the other.
    Neither row's key changes, hence the lighter ``FOR NO KEY UPDATE``.
    """
    return (
        StepRun.objects.select_for_update(of=("self", "run"), no_key=True)
        .select_related("run__environment", "step__phase", *related)
        .get(pk=pk)
    )


def _locked(step_run: StepRun) -> StepRun:
    """Lock the step-run and its run; refuse when the run is no longer in progress."""
    sr = _lock_with_run(step_run.pk, "signed_by")
    if sr.run.status != RunStatus.IN_PROGRESS:
        raise ValidationError(f"The run is {sr.run.get_status_display().lower()}; it is closed.")
    return sr


def _already(sr: StepRun) -> ValidationError:
    who = sr.signed_by.get_username() if sr.signed_by else "someone"
    when = timezone.localtime(sr.signed_at).strftime("%H:%M:%S") if sr.signed_at else ""
    if is_pending_skip(sr):
        return ValidationError(
            f"{who} asked to skip this step at {when}; it waits for a second person."
        )
    if sr.status == StepStatus.SKIPPED:
        return ValidationError(f"{who} already skipped this step at {when}.")
    return ValidationError(f"{who} already signed off this step at {when}; nothing was changed.")


def _gate(sr: StepRun) -> None:
    phase = sr.step.phase
    if not phase.requires_previous or phase.order == 1:
        return
    open_steps = (
        StepRun.objects.filter(
            run=sr.run, step__phase__version=phase.version_id, step__phase__order=phase.order - 1
        )
        .exclude(status__in=[StepStatus.DONE, StepStatus.SKIPPED])
        .count()
    )
    if open_steps:
        raise ValidationError(
            f"“{phase.title}” needs the previous phase complete first ({open_steps} step(s) open)."
        )


def _uploaded_name(evidence_file: UploadedFile) -> str:
    """The uploaded file's own name: no folders, no control characters, at most 255 characters."""
    name = (evidence_file.name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[: 254 - len(ext)]}.{ext}" if dot and len(ext) < 20 else name[:255]
    return name


def _check_evidence_file(evidence_file: UploadedFile | None) -> None:
    if evidence_file is not None and evidence_file.size > MAX_EVIDENCE_BYTES:
        raise ValidationError(
            {
                "evidence_file": f"The file is {evidence_file.size / 1024 / 1024:.1f} MB; "
                "evidence files are limited to 10 MB."
            }
        )


def needs_second(sr: StepRun) -> bool:
    """On a protected environment: a step marked so, and every step the run's setting names
    (pinned from the runbook when the run started; every step unless the runbook says less)."""
    if not sr.run.environment.protected:
        return False
    if sr.step.requires_second_signoff:
        return True
    policy = sr.run.second_signoff
    if policy == SecondSignoff.COMMANDS:
        return bool(sr.step.commands)
    return policy != SecondSignoff.MARKED


def _children_open(sr: StepRun) -> None:
    """A parent step closes once its sub-steps are done or skipped."""
    open_children = list(
        StepRun.objects.filter(run_id=sr.run_id, step__parent_id=sr.step_id)
        .exclude(status__in=[StepStatus.DONE, StepStatus.SKIPPED])
        .values_list("step__title", flat=True)[:4]
    )
    if open_children:
        names = "; ".join(t[:60] for t in open_children[:3])
        raise ValidationError(f"Close its sub-steps first ({names}).")


# The two-person rule. On a protected environment a step that needs a second sign-off is closed
# only by two people, whichever way it closes:
# - signed off (or passed by its check): AWAITING_SECOND until an approver who is not the first
#   signer gives the second sign-off -> DONE;
# - skipped: AWAITING_SECOND with the skip reason (a *pending skip*) until a second approver
#   confirms it -> SKIPPED; the proposer or an approver can withdraw it -> PENDING again;
# - failed: stays FAILED (it can be signed or skipped later, by two people as above).
# Completing the run refuses while any such step is not DONE or SKIPPED with a second signer.
# A pending skip is kept in the existing columns (status + skip_reason), so no schema change.
def is_pending_skip(sr: StepRun) -> bool:
    return sr.status == StepStatus.AWAITING_SECOND and bool(sr.skip_reason)


def lacks_second(sr: StepRun) -> bool:
    """A step the two-person rule still holds open (its run cannot complete)."""
    if not needs_second(sr):
        return False
    return sr.status not in (StepStatus.DONE, StepStatus.SKIPPED) or not sr.second_signed_by_id


def step_sign(
    *,
    actor,
    step_run: StepRun,
    note: str = "",
    evidence_text: str = "",
    evidence_file: UploadedFile | None = None,
) -> StepRun:
    """Sign a step off. Of two simultaneous sign-offs exactly one wins; the other gets an error."""
    require(actor, PERM_SIGN, action="sign off runbook steps")
    _check_evidence_file(evidence_file)
    with transaction.atomic():
        sr = _locked(step_run)
        if sr.status not in (StepStatus.PENDING, StepStatus.FAILED):
            raise _already(sr)
        _gate(sr)
        _children_open(sr)
        second = needs_second(sr)
        sr.status = StepStatus.AWAITING_SECOND if second else StepStatus.DONE
        sr.signed_by, sr.signed_at = actor, timezone.now()
        sr.note = scrub_text(note.strip())
        # Operators paste command output: credentials in it are masked before it is stored.
        sr.evidence_text = scrub_text(evidence_text.strip())
        fields = ["status", "signed_by", "signed_at", "note", "evidence_text"]
        if evidence_file is not None:
            # The name as uploaded, for the report and the download; storage may rename it.
            sr.evidence_name = _uploaded_name(evidence_file)
            sr.evidence_file = evidence_file
            fields += ["evidence_file", "evidence_name"]
        sr.save(update_fields=fields)
        record(
            actor=actor,
            action="runbook.step.signed_off",
            target=sr,
            environment=sr.run.environment,
            changes={
                "run": sr.run_id,
                "step": sr.step.title,
                "status": sr.status,
                "evidence": sr.evidence_text[:1000],
                "evidence_file": sr.evidence_file.name if evidence_file is not None else "",
                "evidence_name": sr.evidence_name if evidence_file is not None else "",
            },
            message=sr.note,
        )
    return sr


def step_second_sign(*, actor, step_run: StepRun, note: str = "") -> StepRun:
    """The second sign-off on a protected environment: a different user with the approver role.

    It completes a first sign-off (-> done) or confirms a pending skip (-> skipped). A step one
    person closed before its environment became protected can be second-signed as it is.
    """
    require(actor, PERM_SECOND, action="give the second sign-off")
    with transaction.atomic():
        sr = _locked(step_run)
        late = sr.status in (StepStatus.DONE, StepStatus.SKIPPED) and lacks_second(sr)
        if sr.status != StepStatus.AWAITING_SECOND and not late:
            if sr.status == StepStatus.DONE:
                raise ValidationError("This step is already fully signed off.")
            raise ValidationError("This step is not waiting for a second sign-off.")
        if sr.signed_by_id == actor.pk:
            raise PermissionDenied(
                "The second sign-off must come from a different person than the first."
            )
        skip = is_pending_skip(sr) or sr.status == StepStatus.SKIPPED
        sr.status = StepStatus.SKIPPED if skip else StepStatus.DONE
        sr.second_signed_by, sr.second_signed_at = actor, timezone.now()
        sr.second_note = note.strip()
        sr.save(update_fields=["status", "second_signed_by", "second_signed_at", "second_note"])
        changes = {"run": sr.run_id, "step": sr.step.title, "first_signer": str(sr.signed_by)}
        if skip:
            changes["skip_reason"] = sr.skip_reason
        record(
            actor=actor,
            action="runbook.step.skip_confirmed" if skip else "runbook.step.second_signed",
            target=sr,
            environment=sr.run.environment,
            changes=changes,
            message=sr.second_note,
        )
    return sr


def step_skip_withdraw(*, actor, step_run: StepRun, note: str = "") -> StepRun:
    """Take back a pending skip: the proposer, or an approver declining it. The step reopens."""
    require(actor, PERM_SIGN, action="withdraw a skip")
    with transaction.atomic():
        sr = _locked(step_run)
        if not is_pending_skip(sr):
            raise ValidationError("This step has no skip waiting for a second person.")
        proposer = sr.signed_by
        if proposer is not None and proposer.pk != actor.pk:
            require(actor, PERM_SECOND, action="decline another person's skip")
        reason = sr.skip_reason
        sr.status = StepStatus.PENDING
        sr.skip_reason = ""
        sr.signed_by, sr.signed_at = None, None
        sr.save(update_fields=["status", "skip_reason", "signed_by", "signed_at"])
        record(
            actor=actor,
            action="runbook.step.skip_withdrawn",
            target=sr,
            environment=sr.run.environment,
            changes={
                "run": sr.run_id,
                "step": sr.step.title,
                "proposed_by": str(proposer or ""),
                "skip_reason": reason,
            },
            message=(note or "").strip(),
        )
    return sr


def step_skip(*, actor, step_run: StepRun, reason: str) -> StepRun:
    require(actor, PERM_SIGN, action="skip runbook steps")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Skipping a step needs a reason."})
    return _close_step(
        actor=actor, step_run=step_run, status=StepStatus.SKIPPED, field="skip_reason", text=reason
    )


def step_fail(*, actor, step_run: StepRun, note: str) -> StepRun:
    require(actor, PERM_SIGN, action="mark runbook steps failed")
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say what failed."})
    return _close_step(
        actor=actor, step_run=step_run, status=StepStatus.FAILED, field="note", text=note
    )


def _close_step(*, actor, step_run: StepRun, status: str, field: str, text: str) -> StepRun:
    """Skip or fail an open (or failed) step, with the operator's reason, audited.

    Skipping a step that needs a second sign-off on a protected environment only proposes the
    skip: it waits for a second person (``step_second_sign``) like a sign-off does.
    """
    with transaction.atomic():
        sr = _locked(step_run)
        if sr.status not in (StepStatus.PENDING, StepStatus.FAILED):
            raise _already(sr)
        proposed = status == StepStatus.SKIPPED and needs_second(sr)
        sr.status = StepStatus.AWAITING_SECOND if proposed else status
        setattr(sr, field, text)
        sr.signed_by, sr.signed_at = actor, timezone.now()
        sr.save(update_fields=["status", field, "signed_by", "signed_at"])
        changes = {"run": sr.run_id, "step": sr.step.title}
        if proposed:
            changes["status"] = sr.status
        record(
            actor=actor,
            action="runbook.step.skip_requested" if proposed else f"runbook.step.{status}",
            target=sr,
            environment=sr.run.environment,
            changes=changes,
            message=text,
        )
    return sr


def _lock_run(run: Run) -> Run:
    r = Run.objects.select_for_update(of=("self",)).select_related("environment").get(pk=run.pk)
    if r.status != RunStatus.IN_PROGRESS:
        raise ValidationError(f"The run is already {r.get_status_display().lower()}.")
    return r


def run_complete(*, actor, run: Run) -> Run:
    require(actor, PERM_RUN_CHANGE, action="complete runbook runs")
    with transaction.atomic():
        r = _lock_run(run)
        open_required = list(
            r.step_runs.filter(step__required=True)
            .exclude(status__in=[StepStatus.DONE, StepStatus.SKIPPED])
            .values_list("step__title", flat=True)[:6]
        )
        if open_required:
            names = "; ".join(open_required[:5])
            raise ValidationError(f"Required steps are still open: {names}.")
        if r.environment.protected:
            lacking = [
                sr.step.title
                for sr in r.step_runs.select_related("step", "run__environment")
                if lacks_second(sr)
            ]
            if lacking:
                raise ValidationError(
                    f"{r.environment} is protected: these steps need a second person before the "
                    f"run can complete (sign-off or skip): {'; '.join(lacking[:5])}."
                )
        r.status = RunStatus.COMPLETED
        r.finished_at, r.finished_by = timezone.now(), actor
        r.save(update_fields=["status", "finished_at", "finished_by"])
        record(
            actor=actor,
            action="runbook.run.completed",
            target=r,
            environment=r.environment,
            changes={"planned_end": r.planned_end, "finished_at": r.finished_at},
        )
    return r


def run_abort(*, actor, run: Run, reason: str) -> Run:
    require(actor, PERM_RUN_CHANGE, action="abort runbook runs")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Aborting a run needs a reason."})
    with transaction.atomic():
        r = _lock_run(run)
        r.status = RunStatus.ABORTED
        r.abort_reason = reason
        r.finished_at, r.finished_by = timezone.now(), actor
        r.save(update_fields=["status", "abort_reason", "finished_at", "finished_by"])
        record(
            actor=actor,
            action="runbook.run.aborted",
            target=r,
            environment=r.environment,
            message=reason,
        )
    return r


# --- automated checks -------------------------------------------------------------------------
def check_request(*, actor, step_run: StepRun) -> StepRun:
    """Queue the step's automated check; the result is signed by the system for ``actor``."""
    require(actor, PERM_CHECK, action="run automated checks")
    with transaction.atomic():
        sr = _locked(step_run)
        if not sr.step.check_type:
            raise ValidationError("This step has no automated check.")
        if sr.status == StepStatus.SKIPPED:
            raise _already(sr)
        if sr.check_status == CheckStatus.QUEUED:
            raise ValidationError("The check is already queued.")
        sr.check_status = CheckStatus.QUEUED
        sr.check_requested_by = actor
        sr.save(update_fields=["check_status", "check_requested_by"])
        record(
            actor=actor,
            action="runbook.check.requested",
            target=sr,
            environment=sr.run.environment,
            changes={"run": sr.run_id, "step": sr.step.title, "check": sr.step.check_type},
        )
        sr_id = sr.pk
        transaction.on_commit(
            lambda: async_task(
                "runbooks.tasks.run_check", sr_id, task_name=f"runbook-check-{sr_id}"
            )
        )
    return sr


def check_record(*, step_run_id: int, result: dict) -> StepRun:
    """Attach a check result as evidence; a pass signs the step for the operator who asked."""
    with transaction.atomic():
        sr = _lock_with_run(step_run_id, "check_requested_by")
        operator = sr.check_requested_by
        passed = bool(result.get("ok"))
        # A URL in a summary may carry user:password@; results are shown and exported.
        result = {**result, "summary": scrub_text(str(result.get("summary", "")))}
        sr.check_status = CheckStatus.PASSED if passed else CheckStatus.FAILED
        sr.check_result = result
        sr.check_ran_at = timezone.now()
        fields = ["check_status", "check_result", "check_ran_at"]
        open_state = sr.status in (StepStatus.PENDING, StepStatus.FAILED)
        if sr.run.status == RunStatus.IN_PROGRESS and open_state:
            sr.status = (
                (StepStatus.AWAITING_SECOND if needs_second(sr) else StepStatus.DONE)
                if passed
                else StepStatus.FAILED
            )
            sr.signed_by, sr.signed_at = operator, sr.check_ran_at
            verb = "Signed" if passed else "Marked failed"
            sr.note = f"{verb} by the system on behalf of {operator}: {result.get('summary', '')}"
            fields += ["status", "signed_by", "signed_at", "note"]
        sr.save(update_fields=fields)
        record(
            actor=None,
            on_behalf_of=operator,
            action="runbook.check.passed" if passed else "runbook.check.failed",
            target=sr,
            environment=sr.run.environment,
            changes={
                "run": sr.run_id,
                "step": sr.step.title,
                "check": sr.step.check_type,
                "summary": result.get("summary", ""),
                "figures": result.get("figures", {}),
            },
        )
    return sr
