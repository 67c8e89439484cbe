"""Pages of the environments app. Thin: forms validate, services write, templates show.

No page ever renders a secret's value: variables are shown through ``display_value`` (a mask
and the hint) and diffs through ``services.public_change``.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch, Q
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, ListView

from opsportal.apphooks import app_hooks
from opsportal.audit.masking import scrub_text
from opsportal.audit.models import AuditEvent
from opsportal.exports import stream_csv
from opsportal.generic import ServiceFormView as BaseServiceFormView
from opsportal.generic import add_service_errors

from . import drift, exporting, hygiene, services
from .choices import ChangeRequestStatus
from .forms import (
    ApproveForm,
    CompareForm,
    ConfigVarForm,
    ConfirmDeleteForm,
    DeploymentForm,
    EnvironmentForm,
    ImportForm,
    ProjectForm,
    ReasonForm,
    RejectForm,
    RotateForm,
    SupersedeForm,
)
from .models import (
    ChangeRequest,
    ConfigVar,
    Environment,
    Project,
    ProviderDeployment,
    touched_label,
)

IMPORT_SESSION_PREFIX = "env_import:"
DONE = {"approve": "approved and applied", "reject": "rejected", "withdraw": "withdrawn"}
# Set on a request closed because another one on the same variables won, for its page.
REPLACED_WORDS = {
    ChangeRequestStatus.STALE: "was applied first",
    ChangeRequestStatus.SUPERSEDED: "supersedes it",
}


class ServiceFormView(BaseServiceFormView):
    """The shared form page (``opsportal.generic``) with this app's template, and its one
    twist: a write to a protected environment becomes a change request to open instead."""

    template_name = "environments/form.html"

    def after_service(self, result):
        if isinstance(result, services.SubmitResult):
            if result.change_request is not None:
                messages.info(
                    self.request,
                    f"Change request #{result.change_request.pk} created: "
                    "another approver must approve it before it applies.",
                )
                others = services.changerequest_conflicts(result.change_request)
                if others:
                    messages.warning(
                        self.request,
                        "It changes what "
                        + ", ".join(f"#{o.pk}" for o in others)
                        + " also changes: withdraw this one or supersede the other below.",
                    )
                return redirect(result.change_request)
            messages.success(self.request, f"Applied: {result.summary}.")
            return redirect(self.success_target())
        return super().after_service(result)

    def success_target(self):
        return self.get_environment()

    def touched_names(self) -> set[str]:
        """What this page changes, named as ``ChangeRequest.touches`` names it."""
        return set()

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        env = ctx["environment"] = getattr(self, "environment", None)
        if env is not None and env.protected:
            # an open request already changing the same thing: said before a second one is filed
            ctx["open_requests"] = [
                (cr, [touched_label(n) for n in cr.overlap])
                for cr in ChangeRequest.objects.overlapping(env.pk, self.touched_names())
            ]
        return ctx


# --- Projects ------------------------------------------------------------------------------------
class ProjectListView(PermissionRequiredMixin, ListView):
    permission_required = "environments.view_project"
    queryset = (
        Project.objects.prefetch_related(
            Prefetch("environments", queryset=Environment.objects.order_by("name"))
        )
        .annotate(variable_count=Count("environments__variables"))
        .order_by("name")
    )
    template_name = "environments/project_list.html"
    paginate_by = 25

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["pending_count"] = ChangeRequest.objects.pending().count()
        return ctx


class ProjectCreateView(ServiceFormView):
    permission_required = "environments.add_project"
    form_class = ProjectForm
    title = "New project"

    def call_service(self, form):
        return services.project_create(actor=self.request.user, **form.cleaned_data)


class ProjectUpdateView(ServiceFormView):
    permission_required = "environments.change_project"
    form_class = ProjectForm
    title = "Edit project"

    def dispatch(self, request, *args, **kwargs):
        self.project = get_object_or_404(Project, slug=kwargs["slug"])
        return super().dispatch(request, *args, **kwargs)

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        form.fields["slug"].disabled = True
        return form

    def get_initial(self):
        return {
            "name": self.project.name,
            "slug": self.project.slug,
            "description": self.project.description,
        }

    def call_service(self, form):
        return services.project_update(
            actor=self.request.user,
            project=self.project,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
        )


class ProjectDetailView(PermissionRequiredMixin, DetailView):
    """The project's matrix (keys × environments) with its hygiene findings."""

    permission_required = "environments.view_project"
    queryset = Project.objects.all()
    template_name = "environments/project_detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        envs = drift.project_environments(self.object)
        ctx["environments"] = envs
        ctx["matrix"] = matrix = drift.matrix(self.object, envs)
        ctx["drift_only"] = self.request.GET.get("drift") == "1"
        ctx["rows"] = (
            [r for r in matrix.rows if any(c.status != "present" or c.shared_with for c in r[2])]
            if ctx["drift_only"]
            else matrix.rows
        )
        ctx["findings"] = hygiene.check_project(self.object, environments=envs)
        ctx["error_count"] = sum(f.severity == "error" for f in ctx["findings"])
        ctx["compare_form"] = CompareForm(project=self.object)
        ctx["pending"] = (
            ChangeRequest.objects.pending()
            .filter(environment__project=self.object)
            .select_related("environment", "author")
        )
        return ctx


class ProjectCompareView(PermissionRequiredMixin, DetailView):
    """Promotion checklist: what to set, change or remove in the target (``?format=md``: as
    Markdown task items)."""

    permission_required = "environments.view_project"
    queryset = Project.objects.all()
    template_name = "environments/project_compare.html"

    def render_to_response(self, context, **kwargs):
        if self.request.GET.get("format") == "md" and "items" in context:
            text = drift.checklist_markdown(context["source"], context["target"], context["items"])
            return HttpResponse(text, content_type="text/markdown; charset=utf-8")
        return super().render_to_response(context, **kwargs)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        envs = drift.project_environments(self.object)
        form = CompareForm(self.request.GET or None, project=self.object)
        if not self.request.GET and len(envs) >= 2:
            form = CompareForm({"source": envs[0].pk, "target": envs[-1].pk}, project=self.object)
        ctx["form"] = form
        if form.is_bound and form.is_valid():
            by_pk = {e.pk: e for e in envs}
            source = by_pk[form.cleaned_data["source"].pk]
            target = by_pk[form.cleaned_data["target"].pk]
            ctx["source"], ctx["target"] = source, target
            ctx["items"] = drift.promotion_checklist(source, target)
            ctx["key_drift"] = drift.key_drift(source, target)
        return ctx


class ProjectExportView(PermissionRequiredMixin, View):
    permission_required = "environments.view_configvar"

    def get(self, request, slug, fmt):
        project = get_object_or_404(Project, slug=slug)
        if fmt == "env-example":
            response = HttpResponse(
                exporting.env_example(project), content_type="text/plain; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{project.slug}.env.example"'
        elif fmt == "md":
            response = HttpResponse(
                exporting.inventory_markdown(project), content_type="text/markdown; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{project.slug}-inventory.md"'
        elif fmt == "csv":
            header, rows = exporting.inventory_rows(project)
            response = StreamingHttpResponse(
                stream_csv([header, *rows]), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{project.slug}-inventory.csv"'
        else:
            return HttpResponse(status=404)
        return response


# --- Environments --------------------------------------------------------------------------------
class EnvironmentMixin:
    """Loads ``self.environment`` from the URL's ``env`` (or ``pk``) argument."""

    env_kwarg = "pk"

    def dispatch(self, request, *args, **kwargs):
        self.environment = get_object_or_404(
            Environment.objects.select_related("project"), pk=kwargs[self.env_kwarg]
        )
        return super().dispatch(request, *args, **kwargs)

    def get_environment(self):
        return self.environment

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["environment"] = self.environment
        return kwargs


class EnvironmentDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "environments.view_environment"
    queryset = Environment.objects.select_related("project")
    template_name = "environments/environment_detail.html"

    def get_context_data(self, **kwargs):
        # Hygiene loads the project's environments with their variables and deployments; the
        # page shows this environment from that same load (no second read of either).
        siblings = hygiene.load_project(self.object.project)
        self.object = env = next(e for e in siblings if e.pk == self.object.pk)
        kwargs["object"] = env  # DetailView.get() passes the object it loaded first
        ctx = super().get_context_data(**kwargs)
        findings = hygiene.check_environment(env, environments=siblings)
        by_key: dict[str, list] = {}
        for f in findings:
            by_key.setdefault(f.key, []).append(f)
        variables = list(env.variables.all())
        ctx["variables"] = variables
        ctx["rows"] = [(v, by_key.get(v.key, [])) for v in variables]
        ctx["findings"] = findings
        ctx["pending"] = env.change_requests.pending().select_related("author")
        ctx["events"] = AuditEvent.objects.filter(environment_id=env.pk).select_related("actor")[
            :15
        ]
        # Sections other apps add (deployments: the timeline), found by name so this app
        # imports none of them.
        ctx["panels"] = [
            panel
            for module in app_hooks("environment_panels")
            for panel in module.panels(self.request, env)
        ]
        return ctx


class EnvironmentCreateView(ServiceFormView):
    permission_required = "environments.add_environment"
    form_class = EnvironmentForm
    title = "New environment"

    def dispatch(self, request, *args, **kwargs):
        self.project = get_object_or_404(Project, slug=kwargs["slug"])
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        return {"protected": "default"}

    def call_service(self, form):
        data = form.settings()
        return services.environment_create(actor=self.request.user, project=self.project, **data)


class EnvironmentUpdateView(EnvironmentMixin, ServiceFormView):
    permission_required = "environments.change_environment"
    form_class = EnvironmentForm

    @property
    def title(self):
        return f"Edit {self.environment}"

    def get_initial(self):
        env = self.environment
        initial = {
            f: getattr(env, f)
            for f in ("name", "tier", "branch", "url", "maintenance_window", "notes")
        }
        initial["protected"] = "yes" if env.protected else "no"
        return initial

    def touched_names(self):
        return {f"setting:{f}" for f in services.SETTINGS_FIELDS}

    def call_service(self, form):
        data = form.settings()
        reason = form.cleaned_data["reason"]
        return services.environment_update(
            actor=self.request.user, environment=self.environment, reason=reason, **data
        )


class DeploymentAddView(EnvironmentMixin, ServiceFormView):
    permission_required = "environments.change_environment"
    form_class = DeploymentForm

    @property
    def title(self):
        return f"Add a provider deployment to {self.environment}"

    def touched_names(self):
        post = self.request.POST
        return {f"deployment:{post.get('provider', '')}:{post.get('identifier', '').strip()}"}

    def call_service(self, form):
        return services.deployment_add(
            actor=self.request.user, environment=self.environment, **form.cleaned_data
        )


class DeploymentRemoveView(PermissionRequiredMixin, View):
    permission_required = "environments.change_environment"

    def post(self, request, pk):
        dep = get_object_or_404(
            ProviderDeployment.objects.select_related("environment__project"), pk=pk
        )
        form = ReasonForm(request.POST)
        form.is_valid()
        reason = form.cleaned_data.get("reason", "")
        if dep.environment.protected and not reason:
            messages.error(request, "Give a reason: the environment is protected.")
            return redirect(dep.environment)
        try:
            result = services.deployment_remove(actor=request.user, deployment=dep, reason=reason)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(dep.environment)
        if result.change_request:
            return redirect(result.change_request)
        messages.success(request, f"Removed {dep}.")
        return redirect(dep.environment)


# --- Variables -----------------------------------------------------------------------------------
class ConfigVarCreateView(EnvironmentMixin, ServiceFormView):
    permission_required = "environments.add_configvar"
    form_class = ConfigVarForm

    @property
    def title(self):
        return f"New variable in {self.environment}"

    def touched_names(self):
        key = self.request.POST.get("key", "").strip()
        return {key} if key else set()

    def call_service(self, form):
        key = form.cleaned_data["key"]
        # configvar_save creates or updates: from the "new" page an existing key would be
        # overwritten (value, required flag, owner...) with whatever this blank form holds.
        if self.environment.variables.filter(key=key).exists():
            raise ValidationError(
                {"key": f"{key} already exists in {self.environment}: edit it instead."}
            )
        return services.configvar_save(
            actor=self.request.user,
            environment=self.environment,
            key=form.cleaned_data["key"],
            value=form.cleaned_data["value"],
            is_secret=form.is_secret(),
            reason=form.cleaned_data["reason"],
            **form.meta(),
        )


class ConfigVarMixin:
    def dispatch(self, request, *args, **kwargs):
        self.configvar = get_object_or_404(
            ConfigVar.objects.select_related("environment__project"), pk=kwargs["pk"]
        )
        self.environment = self.configvar.environment
        return super().dispatch(request, *args, **kwargs)

    def get_environment(self):
        return self.environment

    def touched_names(self):
        return {self.configvar.key}

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["configvar"] = self.configvar
        return ctx


class ConfigVarUpdateView(ConfigVarMixin, ServiceFormView):
    permission_required = "environments.change_configvar"
    form_class = ConfigVarForm

    @property
    def title(self):
        return f"Edit {self.configvar.key} in {self.environment}"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs.update(environment=self.environment, editing=True)
        return kwargs

    def get_initial(self):
        var = self.configvar
        initial = {
            f: getattr(var, f)
            for f in (
                "key",
                "required",
                "description",
                "example",
                "owner",
                "source",
                "rotation_period_days",
            )
        }
        initial["secret"] = "yes" if var.is_secret else "no"
        return initial

    def call_service(self, form):
        value = form.cleaned_data["value"]
        return services.configvar_save(
            actor=self.request.user,
            environment=self.environment,
            key=self.configvar.key,
            value=value if value != "" else None,
            is_secret=form.is_secret(),
            reason=form.cleaned_data["reason"],
            **form.meta(),
        )


class ConfigVarDeleteView(ConfigVarMixin, ServiceFormView):
    permission_required = "environments.delete_configvar"
    form_class = ConfirmDeleteForm

    @property
    def title(self):
        return f"Delete {self.configvar.key} from {self.environment}"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs.update(environment=self.environment, key=self.configvar.key)
        return kwargs

    def call_service(self, form):
        return services.configvar_delete(
            actor=self.request.user,
            environment=self.environment,
            key=self.configvar.key,
            reason=form.cleaned_data["reason"],
        )


class ConfigVarRotateView(ConfigVarMixin, ServiceFormView):
    permission_required = "environments.change_configvar"
    form_class = RotateForm

    @property
    def title(self):
        return f"Mark {self.configvar.key} in {self.environment} as rotated"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["environment"] = self.environment
        return kwargs

    def call_service(self, form):
        return services.configvar_rotate(
            actor=self.request.user,
            configvar=self.configvar,
            new_value=form.cleaned_data["new_value"],
            reason=form.cleaned_data["reason"],
        )


# --- Import --------------------------------------------------------------------------------------
class EnvImportView(EnvironmentMixin, ServiceFormView):
    """Step 1: paste or upload, then see the preview. Nothing is written here.

    The preview is kept in the session in its public form only (fingerprints, kinds, hints, the
    clear values of public variables), so the raw input is never rendered back or stored.
    """

    permission_required = "environments.change_configvar"
    form_class = ImportForm
    template_name = "environments/import.html"

    @property
    def title(self):
        return f"Import variables into {self.environment}"

    def form_invalid(self, form):
        # text the import cannot read (hostile or not) is the client's error: 400, its message
        # next to the field
        response = super().form_invalid(form)
        response.status_code = 400
        return response

    def call_service(self, form):
        return services.import_plan(
            environment=self.environment,
            text=form.cleaned_data["text"],
            fmt=form.cleaned_data["format"],
            filename=form.cleaned_data.get("filename", ""),
            remove_missing=form.cleaned_data["remove_missing"],
            secret_keys=form.secret_list(),
            public_keys=form.public_list(),
            keep_tool_vars=form.cleaned_data["keep_tool_vars"],
        )

    def after_service(self, plan):
        session = self.request.session
        # One pending preview per environment: an abandoned one is replaced, not accumulated.
        for key in [k for k in session.keys() if k.startswith(IMPORT_SESSION_PREFIX)]:  # noqa: SIM118 (SessionBase has no __iter__)
            if session[key].get("environment") == self.environment.pk:
                del session[key]
        token = uuid.uuid4().hex
        self.request.session[IMPORT_SESSION_PREFIX + token] = {
            "environment": self.environment.pk,
            "payload": plan.payload,
            "preview": plan.as_dict(),
            "reason": self.form_reason,
        }
        return redirect(
            reverse("environments:env_import_preview", args=[self.environment.pk, token])
        )

    def form_valid(self, form):
        # Kept in the session until the preview is confirmed: masked like any stored text.
        self.form_reason = scrub_text(form.cleaned_data["reason"])
        return super().form_valid(form)


class EnvImportPreviewView(EnvironmentMixin, PermissionRequiredMixin, View):
    """Step 2: the preview; POST applies it (or creates the change request)."""

    permission_required = "environments.change_configvar"

    def _stored(self, token):
        data = self.request.session.get(IMPORT_SESSION_PREFIX + token)
        if not data or data["environment"] != self.environment.pk:
            return None
        return data

    def get(self, request, pk, token):
        from django.shortcuts import render

        data = self._stored(token)
        if data is None:
            messages.error(request, "This import preview has expired; start again.")
            return redirect("environments:env_import", pk=pk)
        return render(
            request,
            "environments/import_preview.html",
            {
                "environment": self.environment,
                "preview": data["preview"],
                "reason": data["reason"],
                "token": token,
            },
        )

    def post(self, request, pk, token):
        data = self._stored(token)
        if data is None:
            messages.error(request, "This import preview has expired; start again.")
            return redirect("environments:env_import", pk=pk)
        preview = data["preview"]
        plan = services.ImportPlan(
            environment_id=self.environment.pk,
            fmt=preview["format"],
            payload=data["payload"],
            remove_missing=preview["remove_missing"],
        )
        try:
            result = services.env_import_apply(
                actor=request.user, environment=self.environment, plan=plan, reason=data["reason"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("environments:env_import", pk=pk)
        del request.session[IMPORT_SESSION_PREFIX + token]
        if result.change_request is not None:
            messages.info(
                request, f"Change request #{result.change_request.pk} created for the import."
            )
            return redirect(result.change_request)
        messages.success(request, f"Imported: {result.summary}.")
        return redirect(self.environment)


# --- Change requests -----------------------------------------------------------------------------
class ChangeRequestListView(PermissionRequiredMixin, ListView):
    permission_required = "environments.view_changerequest"
    template_name = "environments/changerequest_list.html"
    paginate_by = 25

    def get_queryset(self):
        qs = ChangeRequest.objects.select_related("environment__project", "author", "decided_by")
        status = self.request.GET.get("status", "pending")
        if status in ChangeRequestStatus.values:
            qs = qs.filter(status=status)
        return qs

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["status"] = self.request.GET.get("status", "pending")
        ctx["statuses"] = ChangeRequestStatus.choices
        ctx["query"] = f"status={ctx['status']}"
        return ctx


class ChangeRequestDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "environments.view_changerequest"
    queryset = ChangeRequest.objects.select_related(
        "environment__project", "author", "decided_by", "replaced_by"
    )
    template_name = "environments/changerequest_detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        cr = self.object
        user = self.request.user
        ctx["changes"] = [services.public_change(op) for op in cr.payload.get("vars", [])]
        ctx["settings_change"] = [
            (f, cr.payload["settings"]["before"].get(f), v)
            for f, v in cr.payload.get("settings", {}).get("after", {}).items()
        ]
        ctx["deployments"] = cr.payload.get("deployments", [])
        ctx["can_decide"] = (
            cr.is_pending
            and user.has_perm("environments.approve_changerequest")
            and cr.author_id != user.pk
        )
        ctx["is_author"] = cr.author_id == user.pk
        # a form that failed comes back bound: what was typed stays, the error beside it
        ctx["approve_form"] = kwargs.get("approve_form") or ApproveForm(environment=cr.environment)
        ctx["reject_form"] = kwargs.get("reject_form") or RejectForm()
        ctx["withdraw_form"] = kwargs.get("withdraw_form") or ReasonForm(auto_id="withdraw-%s")
        ctx["decision_error"] = kwargs.get("decision_error", "")
        conflicts = services.changerequest_conflicts(cr)
        for other in conflicts:
            other.overlap_labels = [touched_label(n) for n in other.overlap]
            other.can_supersede = services.can_supersede(user, cr, other)
        ctx["conflicts"] = conflicts
        ctx["replaced_words"] = REPLACED_WORDS.get(cr.status, "")
        ctx["events"] = (
            AuditEvent.objects.filter(
                Q(target_type="environments.changerequest", target_id=str(cr.pk))
            )
            .select_related("actor")
            .order_by("seq")
        )
        return ctx


def render_change_request(request, cr, status=400, **forms):
    """The request's page again, with the bound form that failed (nothing typed is lost)."""
    view = ChangeRequestDetailView()
    view.setup(request, pk=cr.pk)
    view.object = view.get_queryset().get(pk=cr.pk)
    ctx = view.get_context_data(object=view.object, **forms)
    return view.render_to_response(ctx, status=status)


class ChangeRequestDecisionView(PermissionRequiredMixin, View):
    """POST approve / reject / withdraw / supersede. The services enforce who may do what.

    A form that fails (a missing reason, a wrong typed confirmation, a service refusal) shows the
    request's page again with that form bound: the note the approver typed stays."""

    permission_required = "environments.view_changerequest"

    def post(self, request, pk, decision):
        cr = get_object_or_404(ChangeRequest.objects.select_related("environment"), pk=pk)
        if decision == "supersede":
            return self.supersede(request, cr)
        if decision not in DONE:
            return HttpResponse(status=404)
        if decision == "approve" and (
            not request.user.has_perm("environments.approve_changerequest")
            or cr.author_id == request.user.pk
        ):
            # Refuse before asking for a confirmation the user could never give.
            raise PermissionDenied("You cannot approve this change request.")
        if decision == "approve":
            form, form_key = ApproveForm(request.POST, environment=cr.environment), "approve_form"
        elif decision == "reject":
            form, form_key = RejectForm(request.POST), "reject_form"
        else:
            form, form_key = ReasonForm(request.POST, auto_id="withdraw-%s"), "withdraw_form"
        if not form.is_valid():
            return render_change_request(request, cr, **{form_key: form})
        action = {
            "approve": services.changerequest_approve,
            "reject": services.changerequest_reject,
            "withdraw": services.changerequest_withdraw,
        }[decision]
        try:
            action(actor=request.user, change_request=cr, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            add_service_errors(form, exc)
            cr.refresh_from_db(fields=["status"])
            if cr.status != ChangeRequestStatus.PENDING:
                # Decided, stale or superseded meanwhile: the page shows no forms any more, so
                # the reason goes above them.
                return render_change_request(
                    request, cr, decision_error=" ".join(exc.messages), **{form_key: form}
                )
            return render_change_request(request, cr, **{form_key: form})
        messages.success(request, f"Change request #{cr.pk} {DONE[decision]}.")
        return redirect(cr)

    def supersede(self, request, cr):
        form = SupersedeForm(request.POST)
        if not form.is_valid():
            return render_change_request(
                request, cr, decision_error="Choose the request to supersede."
            )
        other = get_object_or_404(ChangeRequest, pk=form.cleaned_data["other"])
        try:
            services.changerequest_supersede(
                actor=request.user,
                change_request=cr,
                other=other,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            return render_change_request(request, cr, decision_error=" ".join(exc.messages))
        messages.success(request, f"Change request #{other.pk} superseded by #{cr.pk}.")
        return redirect(cr)
