import base64
import difflib
import json
import uuid
import zlib
from datetime import UTC
from functools import cached_property

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, JSONField, Max, OuterRef, Q, Subquery
from django.db.models.functions import JSONObject
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views import View
from django.views.generic import DetailView, FormView, ListView

from environments.models import Project
from opsportal.audit.masking import scrub_text
from opsportal.generic import ServiceFormView, add_service_errors
from opsportal.security import ascii_int

from . import preview, report, services
from .choices import RunStatus, SecondSignoff, StepStatus
from .forms import (
    ImportForm,
    ImportSaveForm,
    ReasonForm,
    RunbookSettingsForm,
    RunStartForm,
    SignForm,
    StepForm,
)
from .models import Phase, Run, Runbook, RunbookVersion, Step, StepRun
from .plans import PlanParseError, parse

IMPORT_SESSION_PREFIX = "runbook_import:"
# A 2 MB plan can hold tens of thousands of steps: the page shows the first ones, the counts all.
MAX_PREVIEW_ROWS = 1000


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _last_run() -> Subquery:
    """The runbook's latest run (id, status, start, environment) as one JSON value: a single
    correlated subquery in the list's one query."""
    runs = Run.objects.filter(version__runbook=OuterRef("pk")).order_by("-started_at", "-pk")
    fields = JSONObject(pk="pk", status="status", at="started_at", env="environment__name")
    return Subquery(runs.values(data=fields)[:1], output_field=JSONField())


class RunbookListView(PermissionRequiredMixin, ListView):
    permission_required = "runbooks.view_runbook"
    template_name = "runbooks/runbook_list.html"
    paginate_by = 25
    queryset = (
        Runbook.objects.select_related("project")
        .annotate(
            latest=Max("versions__number"),
            open_runs=Count("versions__runs", filter=Q(versions__runs__status="in_progress")),
            last_run=_last_run(),
        )
        .order_by("title")
    )

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        for runbook in ctx["object_list"]:
            last = runbook.last_run
            if isinstance(last, str):  # a backend that hands JSON back as text
                last = json.loads(last)
            if last:
                status = last.get("status")
                last["label"] = RunStatus(status).label if status in RunStatus.values else ""
                at = parse_datetime(last["at"] or "")
                if at is not None and timezone.is_naive(at):  # SQLite keeps UTC without offset
                    at = at.replace(tzinfo=UTC)
                last["at"] = at
            runbook.last_run = last
        ctx["nav_section"] = "runbooks"
        ctx["runs"] = Run.objects.in_progress().with_related()[:20]
        return ctx


def _pack(text: str) -> str:
    return base64.b64encode(zlib.compress(text.encode("utf-8"), 6)).decode("ascii")


def _unpack(data: str) -> str:
    return zlib.decompress(base64.b64decode(data)).decode("utf-8")


class RunbookImportView(PermissionRequiredMixin, FormView):
    """Step 1: upload or paste a plan. Nothing is written: the plan goes to the preview.

    The text is masked (``scrub_text``) before it is kept anywhere, and kept in the session only,
    compressed, until it is saved or replaced by the next preview; the page never sends it back
    to the browser.
    """

    permission_required = "runbooks.add_runbook"
    template_name = "runbooks/runbook_import.html"
    form_class = ImportForm

    def get_runbook(self):
        pk = self.request.GET.get("runbook") or self.request.POST.get("runbook")
        pk = ascii_int(pk)  # "²".isdigit() is true, and int("²") is a 500
        return get_object_or_404(Runbook, pk=pk) if pk is not None else None

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["runbook"] = self.get_runbook()
        ctx["nav_section"] = "runbooks"
        return ctx

    def form_valid(self, form):
        data = form.cleaned_data
        runbook = self.get_runbook()
        text = scrub_text(data["markdown"])
        try:
            parse(text)  # the preview page shows the rest; a file that is no plan stops here
        except PlanParseError as exc:
            form.add_error("file" if data.get("file") else "text", str(exc))
            return self.form_invalid(form)
        session = self.request.session
        # One pending import per session: an abandoned preview is replaced, not accumulated.
        for key in [k for k in session.keys() if k.startswith(IMPORT_SESSION_PREFIX)]:  # noqa: SIM118 (SessionBase has no __iter__)
            del session[key]
        token = uuid.uuid4().hex
        latest = runbook.latest_version() if runbook else None
        session[IMPORT_SESSION_PREFIX + token] = {
            "text": _pack(text),
            "source_name": data["source_name"],
            "runbook": runbook.pk if runbook else None,
            "base": latest.number if latest else None,
            "project": data["project"].pk if data.get("project") else None,
            "allowed_urls": data.get("allowed_urls", ""),
        }
        return redirect("runbooks:runbook_import_preview", token=token)


class RunbookImportPreviewView(ServiceFormView):
    """Step 2: the parsed tree, counts, warnings and the diff against the latest version; Save
    stores it with one service call (``services.runbook_import``)."""

    permission_required = "runbooks.add_runbook"
    template_name = "runbooks/runbook_import_preview.html"
    form_class = ImportSaveForm

    @cached_property
    def stored(self) -> dict | None:
        return self.request.session.get(IMPORT_SESSION_PREFIX + self.kwargs["token"])

    @cached_property
    def runbook(self) -> Runbook | None:
        pk = self.stored.get("runbook")
        return Runbook.objects.filter(pk=pk).first() if pk else None

    @property
    def text(self) -> str:
        return _unpack(self.stored["text"])

    def _expired(self):
        messages.error(self.request, "This import preview has expired; upload the plan again.")
        return redirect("runbooks:runbook_import")

    def get(self, request, *args, **kwargs):
        if self.stored is None or (self.stored.get("runbook") and self.runbook is None):
            return self._expired()
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if self.stored is None or (self.stored.get("runbook") and self.runbook is None):
            return self._expired()
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        try:
            plan = preview.build(
                self.text, source_name=self.stored["source_name"], runbook=self.runbook, masked=True
            )
        except PlanParseError as exc:  # the parser changed since step 1
            plan = None
            ctx["form"].add_error(None, str(exc))
        rows = plan.rows() if plan else []
        ctx.update(
            preview=plan,
            rows=rows[:MAX_PREVIEW_ROWS],
            rows_hidden=max(0, len(rows) - MAX_PREVIEW_ROWS),
            runbook=self.runbook,
            source_name=self.stored["source_name"],
            project=self._project(),
            next_number=(plan.diff["base"] + 1) if plan and plan.diff else 1,
            second_signoff=SecondSignoff(
                self.runbook.second_signoff
                if self.runbook
                else Runbook._meta.get_field("second_signoff").default
            ).label,
            nav_section="runbooks",
        )
        return ctx

    def _project(self):
        pk = self.stored.get("project")
        return Project.objects.filter(pk=pk).first() if pk else None

    def call_service(self, form):
        latest = self.runbook.latest_version() if self.runbook else None
        number = latest.number if latest else None
        if number != self.stored.get("base"):
            # Someone imported or edited a version since this preview was made: show the diff
            # against that one before anything is saved.
            self.stored["base"] = number
            self.request.session.modified = True
            raise ValidationError(
                f"Version {number} was saved after this preview was made; the diff now compares "
                "with it. Review it and save again."
            )
        return services.runbook_import(
            actor=self.request.user,
            text=self.text,
            source_name=self.stored["source_name"],
            runbook=self.runbook,
            project=self._project(),
            allowed_urls=self.stored.get("allowed_urls", ""),
        )

    def after_service(self, version):
        del self.request.session[IMPORT_SESSION_PREFIX + self.kwargs["token"]]
        messages.success(self.request, f"Imported {version}.")
        return redirect(version)


class RunbookDetailView(PermissionRequiredMixin, View):
    permission_required = "runbooks.view_runbook"

    def get(self, request, pk):
        runbook = get_object_or_404(Runbook, pk=pk)
        version = runbook.latest_version()
        if version is None:
            raise Http404("This runbook has no versions.")
        return redirect(version)


class RunbookSettingsView(ServiceFormView):
    permission_required = "runbooks.change_runbook"
    template_name = "runbooks/runbook_settings.html"
    form_class = RunbookSettingsForm

    def dispatch(self, request, *args, **kwargs):
        self.runbook = get_object_or_404(Runbook, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        return {
            "project": self.runbook.project,
            "allowed_urls": self.runbook.allowed_urls,
            "second_signoff": self.runbook.second_signoff,
        }

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "runbook": self.runbook}

    def call_service(self, form):
        data = form.cleaned_data
        return services.runbook_update(
            actor=self.request.user,
            runbook=self.runbook,
            project=data["project"],
            allowed_urls=data["allowed_urls"],
            second_signoff=data["second_signoff"] or None,
        )

    def after_service(self, runbook):
        messages.success(self.request, "Runbook settings saved.")
        return redirect(runbook)


class VersionDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "runbooks.view_runbookversion"
    template_name = "runbooks/version_detail.html"
    queryset = RunbookVersion.objects.select_related("runbook__project", "created_by")
    context_object_name = "version"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        v = self.object
        ctx["nav_section"] = "runbooks"
        ctx["phases"] = v.phases.prefetch_related("steps")
        ctx["versions"] = v.runbook.versions.select_related("created_by").order_by("-number")
        ctx["runs"] = Run.objects.filter(version__runbook=v.runbook).with_related()[:10]
        ctx["is_latest"] = not v.runbook.versions.filter(number__gt=v.number).exists()
        # "/runbooks/steps/": each step's move and edit URLs are this plus "<pk>/move/" and
        # "<pk>/edit/" (asserted by the tests); reversing three URLs per step was a fifth of
        # this page's time on a 120-step plan.
        ctx["steps_url"] = reverse("runbooks:step_edit", args=[0]).removesuffix("0/edit/")
        return ctx


def version_text(version: RunbookVersion) -> list[str]:
    """A canonical, line-oriented rendering of a version for diffs."""
    lines = [f"# {version.runbook.title}"]
    for phase in version.phases.prefetch_related("steps"):
        gate = " [requires previous phase]" if phase.requires_previous else ""
        lines.append(f"## {phase.title}{gate}")
        for s in phase.steps.all():
            flags = []
            if not s.required:
                flags.append("optional")
            if s.requires_second_signoff:
                flags.append("second sign-off")
            if s.check_type:
                flags.append(f"check {s.check_type} {json.dumps(s.check_config, sort_keys=True)}")
            lines.append(f"- {s.title}" + (f"  ({', '.join(flags)})" if flags else ""))
            lines += [f"    {line}" for line in s.body.splitlines()]
            for c in s.commands:
                lines += [f"    $ {line}" for line in c.get("code", "").splitlines()]
    return lines


class VersionDiffView(PermissionRequiredMixin, View):
    permission_required = "runbooks.view_runbookversion"

    def get(self, request, pk):
        runbook = get_object_or_404(Runbook, pk=pk)
        numbers = list(runbook.versions.order_by("number").values_list("number", flat=True))
        if not numbers:
            raise Http404("No such versions.")
        a = request.GET.get("a") or (numbers[-2] if len(numbers) > 1 else numbers[0])
        b = request.GET.get("b") or numbers[-1]
        # ASCII digits within range, or no such version (not a 500 from int("²") or an overflow).
        a, b = ascii_int(str(a), maximum=2**31 - 1), ascii_int(str(b), maximum=2**31 - 1)
        if a is None or b is None:
            raise Http404("No such versions.")
        va = get_object_or_404(RunbookVersion, runbook=runbook, number=a)
        vb = get_object_or_404(RunbookVersion, runbook=runbook, number=b)
        diff = list(
            difflib.unified_diff(
                version_text(va), version_text(vb), f"v{a}", f"v{b}", lineterm="", n=2
            )
        )
        changes = preview.diff(preview.phases_from_version(va), preview.phases_from_version(vb))
        return render(
            request,
            "runbooks/version_diff.html",
            {
                "runbook": runbook,
                "a": va,
                "b": vb,
                "numbers": numbers,
                "diff": diff,
                "changes": changes,
                "nav_section": "runbooks",
            },
        )


class StepEditView(ServiceFormView):
    permission_required = "runbooks.change_step"
    template_name = "runbooks/step_form.html"
    form_class = StepForm

    def dispatch(self, request, *args, **kwargs):
        self.step = get_object_or_404(
            Step.objects.select_related("phase__version__runbook"), pk=kwargs["pk"]
        )
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        return StepForm.initial_for(self.step)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["step"] = self.step
        return ctx

    def call_service(self, form):
        return services.step_update(
            actor=self.request.user, step=self.step, **form.service_kwargs()
        )

    def after_service(self, version):
        messages.success(self.request, f"Saved as version {version.number}.")
        return redirect(version)


class StepMoveView(PermissionRequiredMixin, View):
    permission_required = "runbooks.change_step"

    def post(self, request, pk):
        step = get_object_or_404(Step.objects.select_related("phase__version"), pk=pk)
        try:
            version = services.step_move(
                actor=request.user, step=step, direction=request.POST.get("direction", "")
            )
        except ValidationError as exc:
            messages.error(request, _errors(exc))
            return redirect(step.phase.version)
        messages.success(request, f"Saved as version {version.number}.")
        return redirect(version)


class PhaseGateView(PermissionRequiredMixin, View):
    permission_required = "runbooks.change_step"

    def post(self, request, pk):
        phase = get_object_or_404(Phase.objects.select_related("version"), pk=pk)
        version = services.phase_gate_set(
            actor=request.user,
            phase=phase,
            requires_previous=request.POST.get("requires_previous") == "1",
        )
        messages.success(request, f"Saved as version {version.number}.")
        return redirect(version)


class RunStartView(ServiceFormView):
    permission_required = "runbooks.add_run"
    template_name = "runbooks/run_start.html"
    form_class = RunStartForm

    def dispatch(self, request, *args, **kwargs):
        self.version = get_object_or_404(
            RunbookVersion.objects.select_related("runbook"), pk=kwargs["pk"]
        )
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "runbook": self.version.runbook}

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "version": self.version}

    def call_service(self, form):
        return services.run_start(
            actor=self.request.user, version=self.version, **form.cleaned_data
        )

    def after_service(self, run):
        messages.success(self.request, "Run started.")
        return redirect(run)


def _step_urls(step_runs: list[StepRun]) -> None:
    """Each step run's action URLs, from one reverse() rather than five per step."""
    prefix = reverse("runbooks:step_action", args=[0, "sign"]).removesuffix("0/sign/")
    for sr in step_runs:
        sr.urls = {a: f"{prefix}{sr.pk}/{a}/" for a in ACTIONS}


def run_context(run: Run, step_runs: list[StepRun], user) -> dict:
    """What the run page and a re-rendered step row need; permissions looked up once."""
    _step_urls(step_runs)
    phases: list[dict] = []
    for sr in step_runs:
        if not phases or phases[-1]["phase"].pk != sr.step.phase_id:
            phases.append({"phase": sr.step.phase, "steps": [], "closed": 0})
        phases[-1]["steps"].append(sr)
        phases[-1]["closed"] += sr.is_closed
    for p in phases:
        p["percent"] = round(100 * p["closed"] / len(p["steps"])) if p["steps"] else 0
    closed = sum(p["closed"] for p in phases)
    total = len(step_runs)
    return {
        "run": run,
        "groups": phases,
        "closed": closed,
        "total": total,
        "percent": round(100 * closed / total) if total else 0,
        "elapsed": report.fmt_duration(report.elapsed(run)),
        "window": report.fmt_duration(report.window(run)),
        "over_window": report.elapsed(run) > report.window(run),
        "has_failed": any(sr.status == StepStatus.FAILED for sr in step_runs),
        "can_sign": user.has_perm(ACTIONS["sign"]),
        "can_second": user.has_perm(ACTIONS["second"]),
        "can_check": user.has_perm(ACTIONS["check"]),
    }


class RunDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "runbooks.view_run"
    template_name = "runbooks/run_detail.html"
    queryset = Run.objects.with_related()

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(run_context(self.object, report.step_runs(self.object), self.request.user))
        ctx["nav_section"] = "runbooks"
        ctx["reason_form"] = kwargs.get("reason_form") or ReasonForm()
        return ctx


ACTIONS = {
    "sign": "runbooks.change_steprun",
    "second": "runbooks.second_signoff",
    "skip": "runbooks.change_steprun",
    "fail": "runbooks.change_steprun",
    "check": "runbooks.run_check",
    "unskip": "runbooks.change_steprun",  # withdraw (or, as an approver, decline) a skip
}


class StepActionView(LoginRequiredMixin, View):
    """Sign, second-sign, skip, fail or check one step; htmx swaps the step's row in place."""

    def post(self, request, pk, action):
        if action not in ACTIONS:
            raise Http404("Unknown action.")
        sr = get_object_or_404(
            StepRun.objects.select_related("run__environment", "step__phase"), pk=pk
        )
        error = ""
        try:
            if not request.user.has_perm(ACTIONS[action]):
                raise PermissionDenied(f"{request.user} is not allowed to do that.")
            form = SignForm(request.POST, request.FILES)
            if not form.is_valid():
                raise ValidationError(
                    [e for errs in form.errors.values() for e in errs]  # shown in the row
                )
            data = form.cleaned_data
            if action == "sign":
                services.step_sign(
                    actor=request.user,
                    step_run=sr,
                    note=data["note"],
                    evidence_text=data["evidence_text"],
                    evidence_file=data["evidence_file"],
                )
            elif action == "second":
                services.step_second_sign(actor=request.user, step_run=sr, note=data["note"])
            elif action == "skip":
                services.step_skip(actor=request.user, step_run=sr, reason=data["note"])
            elif action == "fail":
                services.step_fail(actor=request.user, step_run=sr, note=data["note"])
            elif action == "unskip":
                services.step_skip_withdraw(actor=request.user, step_run=sr, note=data["note"])
            else:
                services.check_request(actor=request.user, step_run=sr)
        except (ValidationError, PermissionDenied) as exc:
            error = _errors(exc) if isinstance(exc, ValidationError) else str(exc)
        # what was typed goes back into the step's row when the action failed
        typed = (
            {"step": sr.pk, **{k: request.POST.get(k, "") for k in ("note", "evidence_text")}}
            if error
            else {}
        )
        if not request.headers.get("HX-Request"):
            if error:
                messages.error(request, error)
                return render_run(request, sr.run_id, typed=typed, status=400)
            messages.success(request, "Saved.")
            return HttpResponseRedirect(sr.run.get_absolute_url() + f"#step-{sr.pk}")
        run = Run.objects.with_related().get(pk=sr.run_id)
        srs = report.step_runs(run)
        ctx = run_context(run, srs, request.user)
        ctx.update(sr=next(x for x in srs if x.pk == sr.pk), error=error, oob=True, typed=typed)
        return HttpResponse(render_to_string("runbooks/_step_row.html", ctx, request=request))


def render_run(request, run_pk, status=400, **extra):
    """The run page again with what failed (a typed note, the abort reason) still in place."""
    view = RunDetailView()
    view.setup(request, pk=run_pk)
    view.object = view.get_queryset().get(pk=run_pk)
    ctx = view.get_context_data(object=view.object, **extra)
    return view.render_to_response(ctx, status=status)


class RunCompleteView(PermissionRequiredMixin, View):
    permission_required = "runbooks.change_run"

    def post(self, request, pk):
        run = get_object_or_404(Run, pk=pk)
        try:
            services.run_complete(actor=request.user, run=run)
            messages.success(request, "Run completed.")
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        return redirect(run)


class RunAbortView(PermissionRequiredMixin, View):
    permission_required = "runbooks.change_run"

    def post(self, request, pk):
        run = get_object_or_404(Run, pk=pk)
        form = ReasonForm(request.POST)
        form.fields["reason"].error_messages["required"] = "Aborting a run needs a reason."
        if form.is_valid():
            try:
                services.run_abort(actor=request.user, run=run, reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.warning(request, "Run aborted.")
                return redirect(run)
        return render_run(request, run.pk, reason_form=form)


class RunReportView(PermissionRequiredMixin, View):
    permission_required = "runbooks.view_run"

    def get(self, request, pk, fmt="html"):
        run = get_object_or_404(Run.objects.with_related(), pk=pk)
        if fmt == "md":
            response = HttpResponse(
                report.markdown(run, base_url=request.build_absolute_uri("/")),
                content_type="text/markdown; charset=utf-8",
            )
            response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-report.md"'
            return response
        return render(request, "runbooks/run_report.html", report.build(run))


class EvidenceView(PermissionRequiredMixin, View):
    permission_required = "runbooks.view_steprun"

    def get(self, request, pk):
        sr = get_object_or_404(StepRun, pk=pk)
        if not sr.evidence_file:
            raise Http404("No evidence file.")
        return FileResponse(
            sr.evidence_file.open("rb"), as_attachment=True, filename=report.evidence_name(sr)
        )
