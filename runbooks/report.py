"""A run report: every step, who signed it and when, evidence, checks, window, chain head."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from opsportal.audit.masking import scrub_text
from opsportal.audit.services import chain_head

from .choices import RunStatus, StepStatus
from .models import Run, StepRun


def fmt_duration(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{sign}{hours}h {rest // 60:02d}m"


def elapsed(run: Run) -> timedelta:
    end = run.finished_at or timezone.now()
    return end - run.started_at


def window(run: Run) -> timedelta:
    return run.planned_end - run.planned_start


def _ts(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-"


def step_runs(run: Run):
    return list(
        StepRun.objects.filter(run=run)
        .select_related("step__phase", "signed_by", "second_signed_by", "check_requested_by")
        .order_by("step__phase__order", "step__order")
    )


def build(run: Run) -> dict:
    """Context shared by the Markdown and the HTML report."""
    srs = step_runs(run)
    phases: list[dict] = []
    for sr in srs:
        if not phases or phases[-1]["phase"].pk != sr.step.phase_id:
            phases.append({"phase": sr.step.phase, "steps": []})
        phases[-1]["steps"].append(sr)
    for sr in srs:
        sr.figures_text = figures_text(sr.check_result or {})
    counts = {s.value: 0 for s in StepStatus}
    for sr in srs:
        counts[sr.status] += 1
    head = chain_head()
    return {
        "run": run,
        "phases": phases,
        "counts": counts,
        "total": len(srs),
        "elapsed": fmt_duration(elapsed(run)),
        "window": fmt_duration(window(run)),
        "over_window": (run.finished_at or timezone.now()) > run.planned_end,
        "chain_seq": head.seq,
        "chain_hash": head.hash,
        "generated_at": timezone.now(),
    }


def figures_text(result: dict) -> str:
    """A check's figures as ``key=value`` pairs (lists of findings are counted, not listed)."""
    parts = []
    for key, value in (result.get("figures") or {}).items():
        if isinstance(value, list):
            value = ", ".join(map(str, value)) if key.startswith("only_in") else len(value)
        parts.append(f"{key}={value}")
    return scrub_text(", ".join(parts))


def _cell(text: str) -> str:
    return scrub_text(str(text or "")).replace("|", "\\|").replace("\n", " ").strip()


def markdown(run: Run) -> str:
    ctx = build(run)
    out = [
        f"# Run report: {run.version.runbook.title} (v{run.version.number})",
        "",
        f"- Environment: {run.environment} (tier {run.environment.tier}"
        f"{', protected' if run.environment.protected else ''})",
        f"- Status: {run.get_status_display()}",
        f"- Started by: {run.started_by} at {_ts(run.started_at)}",
        f"- Planned window: {_ts(run.planned_start)} → {_ts(run.planned_end)} ({ctx['window']})",
        f"- Actual: {_ts(run.started_at)} → {_ts(run.finished_at)} ({ctx['elapsed']}"
        f"{', over the window' if ctx['over_window'] else ''})",
    ]
    if run.status == RunStatus.ABORTED:
        out.append(f"- Abort reason: {_cell(run.abort_reason)}")
    out += [
        f"- Steps: {ctx['counts']['done']} done, {ctx['counts']['skipped']} skipped, "
        f"{ctx['counts']['failed']} failed, {ctx['counts']['awaiting_second']} awaiting second "
        f"sign-off, {ctx['counts']['pending']} open (of {ctx['total']})",
        "",
    ]
    for group in ctx["phases"]:
        out += [f"## {group['phase'].title}", ""]
        for sr in group["steps"]:
            box = "x" if sr.status == StepStatus.DONE else " "
            out.append(f"- [{box}] **{_cell(sr.step.title)}** — {sr.get_status_display()}")
            if sr.signed_by:
                verb = "Skipped" if sr.status == StepStatus.SKIPPED else "Signed"
                if sr.status == StepStatus.FAILED:
                    verb = "Marked failed"
                out.append(f"  - {verb} by {sr.signed_by} at {_ts(sr.signed_at)}")
            if sr.second_signed_by:
                out.append(
                    f"  - Second sign-off by {sr.second_signed_by} at {_ts(sr.second_signed_at)}"
                )
            if sr.skip_reason:
                out.append(f"  - Skip reason: {_cell(sr.skip_reason)}")
            if sr.note:
                out.append(f"  - Note: {_cell(sr.note)}")
            if sr.evidence_text:
                first = _cell(sr.evidence_text)[:200]
                out.append(f"  - Evidence ({len(sr.evidence_text)} chars): {first}")
            if sr.evidence_file:
                out.append(f"  - Evidence file: {sr.evidence_file.name}")
            if sr.check_status:
                res = sr.check_result or {}
                figures = figures_text(res)
                out.append(
                    f"  - Check {sr.step.get_check_type_display()}: {sr.get_check_status_display()}"
                    f" — {_cell(res.get('summary', ''))}"
                    + (f" ({figures})" if figures else "")
                    + (
                        f"; by the system on behalf of {sr.check_requested_by}"
                        if sr.check_requested_by
                        else ""
                    )
                )
        out.append("")
    out += [
        "---",
        f"Audit chain head at export: #{ctx['chain_seq']} `{ctx['chain_hash']}`",
        f"Generated {_ts(ctx['generated_at'])}",
        "",
    ]
    return "\n".join(out)
