"""A run report: every step, who signed it and when, evidence, checks, window, chain head.

The same facts in HTML (``run_report.html`` from :func:`build`) and in Markdown
(:func:`markdown`): who started the run and who completed or aborted it (with the reason), each
step's sign-off and second sign-off with their notes, the full evidence text (wrapped, never cut),
evidence files by their uploaded name linked to the permission-checked download, check results,
the version's rollback plan, and the audit chain head at export.
"""

from __future__ import annotations

import posixpath
import re
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from opsportal.audit.masking import scrub_text
from opsportal.audit.services import chain_head
from opsportal.exports import single_line

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


def evidence_name(sr: StepRun) -> str:
    """The evidence file's name as it was uploaded.

    Kept by the step run (``evidence_name``) at sign-off; a file stored before that field existed
    falls back to the stored file's own name.
    """
    if not sr.evidence_file:
        return ""
    name = sr.evidence_name or posixpath.basename(sr.evidence_file.name)
    # A client names its upload as it likes: no line break or other control character may reach
    # a download's Content-Disposition header (Django refuses it with a 500) or a report's line.
    return "".join(c if c.isprintable() else " " for c in name).strip() or "evidence"


def evidence_url(sr: StepRun) -> str:
    return reverse("runbooks:evidence", args=[sr.pk]) if sr.evidence_file else ""


def closed_by(run: Run) -> dict | None:
    """Who completed or aborted the run, when, and why (an abort's reason)."""
    if run.status == RunStatus.COMPLETED:
        verb = "Completed"
    elif run.status == RunStatus.ABORTED:
        verb = "Aborted"
    else:
        return None
    return {
        "verb": verb,
        "by": run.finished_by,
        "at": run.finished_at,
        "reason": run.abort_reason if run.status == RunStatus.ABORTED else "",
    }


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
        sr.evidence_name = evidence_name(sr)
        sr.evidence_url = evidence_url(sr)
    counts = {s.value: 0 for s in StepStatus}
    for sr in srs:
        counts[sr.status] += 1
    head = chain_head()
    return {
        "run": run,
        "closed_by": closed_by(run),
        "rollback": list(run.version.rollback or []),
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
    # A table row ends at any line break Markdown knows (\r, \n, \r\n; also Unicode's): one
    # left in a cell would start a row of the author's making.
    flat = " ".join(scrub_text(str(text or "")).splitlines())
    return flat.replace("|", "\\|").strip()


def _fenced(text: str, indent: str = "") -> list[str]:
    """``text`` as a fenced block that no backtick run inside it can close early."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    lines = [fence, *text.splitlines(), fence]
    return [f"{indent}{line}" if line else "" for line in lines]


def _link_text(text: str) -> str:
    return re.sub(r"([\\\[\]])", r"\\\1", text)


def markdown(run: Run, *, base_url: str = "") -> str:
    """The report as Markdown; ``base_url`` (``https://host``) makes evidence links absolute."""
    ctx = build(run)
    title, environment = (single_line(v) for v in (run.version.runbook.title, run.environment))
    out = [
        f"# Run report: {title} (v{run.version.number})",
        "",
        f"- Environment: {environment} (tier {run.environment.tier}"
        f"{', protected' if run.environment.protected else ''})",
        f"- Status: {run.get_status_display()}",
        f"- Started by: {run.started_by} at {_ts(run.started_at)}",
    ]
    closed = ctx["closed_by"]
    if closed:
        out.append(f"- {closed['verb']} by: {closed['by'] or 'unknown'} at {_ts(closed['at'])}")
        if closed["verb"] == "Aborted":
            out.append(f"- Abort reason: {_cell(closed['reason'])}")
    out += [
        f"- Planned window: {_ts(run.planned_start)} → {_ts(run.planned_end)} ({ctx['window']})",
        f"- Actual: {_ts(run.started_at)} → {_ts(run.finished_at)} ({ctx['elapsed']}"
        f"{', over the window' if ctx['over_window'] else ''})",
        f"- Steps: {ctx['counts']['done']} done, {ctx['counts']['skipped']} skipped, "
        f"{ctx['counts']['failed']} failed, {ctx['counts']['awaiting_second']} awaiting second "
        f"sign-off, {ctx['counts']['pending']} open (of {ctx['total']})",
        "",
    ]
    for group in ctx["phases"]:
        phase = group["phase"]
        tag = " (rollback: done only when rolling back)" if phase.rollback else ""
        out += [f"## {_cell(phase.title)}{tag}", ""]
        for sr in group["steps"]:
            box = "x" if sr.status == StepStatus.DONE else " "
            # A sub-step is a list item under its parent's: two spaces per level.
            pad = "  " * sr.step.depth
            first = len(out)
            out.append(f"- [{box}] **{_cell(sr.step.title)}** — {sr.get_status_display()}")
            if sr.signed_by:
                verb = "Skipped" if sr.status == StepStatus.SKIPPED else "Signed"
                if sr.status == StepStatus.FAILED:
                    verb = "Marked failed"
                out.append(f"  - {verb} by {sr.signed_by} at {_ts(sr.signed_at)}")
            if sr.skip_reason:
                out.append(f"  - Skip reason: {_cell(sr.skip_reason)}")
            if sr.note:
                out.append(f"  - Note: {_cell(sr.note)}")
            if sr.second_signed_by:
                out.append(
                    f"  - Second sign-off by {sr.second_signed_by} at {_ts(sr.second_signed_at)}"
                    + (f" — note: {_cell(sr.second_note)}" if sr.second_note else "")
                )
            if sr.evidence_text:
                evidence = scrub_text(sr.evidence_text)
                out += [f"  - Evidence ({len(evidence)} characters):", ""]
                out += _fenced(evidence, indent="    ")
                out.append("")
            if sr.evidence_file:
                out.append(
                    f"  - Evidence file: [{_link_text(sr.evidence_name)}]"
                    f"(<{base_url.rstrip('/')}{sr.evidence_url}>)"
                )
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
            if pad:
                out[first:] = [f"{pad}{line}" if line else "" for line in out[first:]]
        out.append("")
    out += ["## Rollback plan", ""]
    if ctx["rollback"]:
        for section in ctx["rollback"]:
            title = _cell(section.get("title", "")) or "Rollback"
            out += [f"### {title}", "", scrub_text(section.get("body", "")).strip(), ""]
    else:
        out += ["This version has no rollback plan.", ""]
    out += [
        "---",
        f"Audit chain head at export: #{ctx['chain_seq']} `{ctx['chain_hash']}`",
        f"Generated {_ts(ctx['generated_at'])}",
        "",
    ]
    return "\n".join(out)
