import csv
import json

import tablib
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Func, OuterRef, Q, Subquery
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import DetailView, ListView

from opsportal.exports import escape_row, stream_csv
from opsportal.generic import ServiceFormView, add_service_errors
from opsportal.pagination import KeysetPaginationMixin
from opsportal.security import ascii_int, bad_request

from . import normalise, reasons, sample_headers, services
from .choices import CommissionKind, JobKind, ReviewKind, ReviewStatus
from .forms import (
    PresetForm,
    ProductForm,
    ReasonForm,
    ReviewForm,
    RollbackForm,
    SampleForm,
    UploadForm,
    posted_headers,
)
from .models import Commission, ImportJob, Member, Order, Product, ReviewItem
from .services.rollback import rollback_summary

FIGURE_LABELS = {"seconds": "Duration (s)", "rows_per_second": "Rows/s"}
REPORT_FORMATS = ("csv", "xlsx", "json")
JOB_SETTLED = ("ready", "completed", "failed", "cancelled", "rolled_back")


class ImportJobListView(PermissionRequiredMixin, ListView):
    permission_required = "imports.view_importjob"
    queryset = ImportJob.objects.select_related("created_by")
    template_name = "imports/job_list.html"
    paginate_by = 25

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["form"] = kwargs.get("form") or UploadForm()
        ctx["open_reviews"] = ReviewItem.objects.open().count()
        return ctx


class ImportJobUploadView(PermissionRequiredMixin, View):
    permission_required = "imports.add_importjob"

    def get(self, request):
        # Reloading the page a rejected upload rendered lands here: show the upload form again.
        return redirect("imports:job_list")

    def post(self, request):
        form = UploadForm(request.POST, request.FILES)
        parent = None
        if request.POST.get("parent"):
            parent = get_object_or_404(ImportJob, pk=ascii_int(request.POST["parent"]) or 0)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            preset = form.cleaned_data.get("preset")
            try:
                # stored and hashed only: the worker reads it (recognition, rows, preview)
                job = services.job_create(
                    actor=request.user,
                    file=upload,
                    name=upload.name,
                    kind=preset.kind if preset else form.cleaned_data["kind"],
                    batch_size=form.cleaned_data["batch_size"],
                    mapping=preset.mapping if preset else None,
                    parent=parent,
                )
            except ValidationError as exc:
                form.add_error("file", exc)
            else:
                messages.info(request, f"Uploaded; validating {job.original_name}.")
                return redirect(job)
        if parent is not None:
            # a follow-up refused: its job page again, the form still a follow-up of it
            return render_job(request, parent, upload_form=form)
        view = ImportJobListView()
        view.setup(request)
        view.object_list = view.get_queryset()
        ctx = view.get_context_data(form=form)
        return view.render_to_response(ctx, status=400)


class ImportJobDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "imports.view_importjob"
    queryset = ImportJob.objects.select_related("created_by", "parent")
    template_name = "imports/job_detail.html"
    context_object_name = "job"

    def _polling(self) -> bool:
        return bool(self.request.headers.get("HX-Request")) and (
            self.request.GET.get("part") == "progress"
        )

    def get_template_names(self):
        if self._polling():
            return ["imports/_job_progress.html"]
        return [self.template_name]

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        if self._polling() and self.object.status in JOB_SETTLED:
            # the job page shows more once the job settles: htmx reloads it (no inline script)
            response["HX-Refresh"] = "true"
        return response

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        job = self.object
        ctx["rollback"] = rollback_summary(job)
        if self._polling():
            return ctx  # the progress bar needs the rollback figures only
        errors = job.row_errors.all()
        # the stored code is the filter (and what the CSV keeps); people read it in words. One
        # grouped query gives the codes and the counts (a plain COUNT only past 50 codes).
        groups = dict(
            job.row_errors.order_by("reason").values_list("reason").annotate(n=Count("pk"))[:51]
        )
        ctx["reason_choices"] = reasons.choices(list(groups)[:50])
        ctx["reason"] = reason = self.request.GET.get("reason", "")
        if reason:
            errors = errors.filter(reason=reason)
        ctx["errors"] = [(e, reasons.describe(e.reason)) for e in errors[:100]]
        ctx["error_count"] = sum(groups.values()) if len(groups) <= 50 else job.row_errors.count()
        ctx["shown_count"] = (
            (groups.get(reason, 0) if reason in groups or len(groups) <= 50 else errors.count())
            if reason
            else ctx["error_count"]
        )
        ctx["reviews"] = ReviewItem.objects.filter(job=job).order_by("pk")[:50]
        ctx["figures"] = {FIGURE_LABELS.get(k, k): v for k, v in services.job_figures(job).items()}
        ctx["rollback_form"] = kwargs.get("rollback_form") or RollbackForm(job=job)
        ctx["cancel_reason"] = kwargs.get("cancel_reason", "")
        ctx["upload_form"] = kwargs.get("upload_form") or UploadForm(initial={"kind": job.kind})
        ctx["conflicts"] = job.rollback_conflicts[:100]
        return ctx


class _JobAction(PermissionRequiredMixin, View):
    """Call one service and go back to the job page (a GET, e.g. a reload, just goes back)."""

    def get(self, request, pk):
        return redirect(get_object_or_404(ImportJob, pk=pk))

    def post(self, request, pk):
        job = get_object_or_404(ImportJob, pk=pk)
        try:
            result = self.act(request, job)
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
            if isinstance(exc, ValidationError):
                return self.failed(request, job, exc)
            return redirect(job)
        if isinstance(result, HttpResponse):
            return result
        return redirect(job)

    def failed(self, request, job, exc):
        """After a refusal: the job page; an action with typed input shows it again there."""
        return redirect(job)


def render_job(request, job, status=400, **extra):
    """The job page with a failed form still holding what was typed."""
    view = ImportJobDetailView()
    view.setup(request, pk=job.pk)
    view.object = ImportJob.objects.select_related("created_by", "parent").get(pk=job.pk)
    return view.render_to_response(view.get_context_data(**extra), status=status)


class ImportJobConfirmView(_JobAction):
    permission_required = "imports.change_importjob"

    def act(self, request, job):
        services.job_confirm(actor=request.user, job=job)
        messages.success(request, f"Job #{job.pk} queued.")


class ImportJobCancelView(_JobAction):
    permission_required = "imports.change_importjob"

    def act(self, request, job):
        form = ReasonForm(request.POST)
        form.is_valid()
        services.job_cancel(actor=request.user, job=job, reason=form.cleaned_data.get("reason", ""))
        messages.success(request, f"Job #{job.pk} cancelled.")

    def failed(self, request, job, exc):
        return render_job(request, job, cancel_reason=request.POST.get("reason", ""))


class ImportJobResumeView(_JobAction):
    permission_required = "imports.change_importjob"

    def act(self, request, job):
        services.job_resume(actor=request.user, job=job)
        messages.success(request, f"Job #{job.pk} resumes from batch {job.checkpoint + 1}.")


class ImportJobRollbackView(_JobAction):
    permission_required = "imports.delete_importjob"

    def act(self, request, job):
        form = RollbackForm(request.POST, job=job)
        if not form.is_valid():
            return render_job(request, job, rollback_form=form)
        services.job_rollback(actor=request.user, job=job, reason=form.cleaned_data["reason"])
        messages.success(request, f"Job #{job.pk} is rolling back.")

    def failed(self, request, job, exc):
        form = RollbackForm(request.POST, job=job)
        form.is_valid()
        add_service_errors(form, exc)
        return render_job(request, job, rollback_form=form)


class ImportJobErrorsView(PermissionRequiredMixin, View):
    """The rejected rows as CSV, to fix and upload again as a follow-up job."""

    permission_required = "imports.view_importjob"

    def get(self, request, pk):
        job = get_object_or_404(ImportJob, pk=pk)

        def rows():
            yield ["row", "key", "reason", "explanation"]
            for e in job.row_errors.iterator():
                yield [e.row, e.key, e.reason, reasons.describe(e.reason)]

        response = StreamingHttpResponse(stream_csv(rows()), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
        return response


class ImportJobRejectedRowsView(PermissionRequiredMixin, View):
    """The rejected rows in the file's own layout: fix them, upload them as a follow-up job.

    Cells are written exactly as they came, *not* formula-escaped like the other exports: this
    file exists to be corrected and uploaded again, and an escape is data on re-import (``-``,
    Sejoli's "empty", came back as ``'-``; a phone ``+62…`` as ``'+62…``). Nothing is added that
    the uploaded file did not hold: a formula-looking cell here was in that file too, and the
    portal never evaluates cells. Opened in a spreadsheet, it is the uploader's own data.
    """

    permission_required = "imports.view_importjob"

    def get(self, request, pk):
        job = get_object_or_404(ImportJob, pk=pk)
        errors = list(job.row_errors.exclude(raw={}).values_list("raw", flat=True))
        # the file's own column order (JSONB does not keep key order)
        header = job.preview.get("columns") or (sorted(errors[0]) if errors else [])

        def rows():
            yield header
            for raw in errors:
                yield [raw.get(column, "") for column in header]

        response = StreamingHttpResponse(stream_exact_csv(rows()), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rejected.csv"'
        return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def stream_exact_csv(rows):
    """CSV lines with every cell as it is (see ``ImportJobRejectedRowsView``)."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(["" if v is None else v for v in row])


class ImportJobReportView(PermissionRequiredMixin, View):
    """The job summary and its errors as CSV, XLSX or JSON (cells formula-escaped)."""

    permission_required = "imports.view_importjob"

    def get(self, request, pk, fmt):
        if fmt not in REPORT_FORMATS:  # the file name is ours: never a name the URL chooses
            raise Http404("Reports are CSV, XLSX or JSON.")
        job = get_object_or_404(ImportJob, pk=pk)
        figures = services.job_figures(job)
        errors = list(job.row_errors.values_list("row", "key", "reason"))
        if fmt == "json":
            body = {
                "job": job.pk, "kind": job.kind, "file": job.original_name,
                "sha256": job.sha256, "status": job.status, **figures,
                "rejected": [{"row": r, "key": k, "reason": why} for r, k, why in errors],
            }  # fmt: skip
            response = HttpResponse(json.dumps(body, indent=2), content_type="application/json")
        else:
            data = tablib.Dataset(headers=["section", "row", "key", "value"])
            for name, value in figures.items():
                data.append(escape_row(["summary", "", name, value]))
            for r, k, why in errors:
                data.append(escape_row(["rejected", r, k, why]))
            if fmt == "xlsx":
                response = HttpResponse(
                    data.export("xlsx"),
                    content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                )
            else:
                response = HttpResponse(data.export("csv"), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}.{fmt}"'
        return response


class ReviewListView(PermissionRequiredMixin, ListView):
    permission_required = "imports.view_reviewitem"
    template_name = "imports/review_list.html"
    paginate_by = 25

    def get_queryset(self):
        qs = ReviewItem.objects.select_related(
            "member", "other_member", "affiliate", "order", "decided_by"
        )
        self.kind = self.request.GET.get("kind", "")
        self.status = self.request.GET.get("status", ReviewStatus.OPEN)
        if self.kind in ReviewKind.values:
            qs = qs.filter(kind=self.kind)
        if self.status in ReviewStatus.values:
            qs = qs.filter(status=self.status)
        return qs

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(
            kinds=ReviewKind.choices, statuses=ReviewStatus.choices, kind=self.kind,
            status=self.status, form=ReviewForm(),
            can_review=self.request.user.has_perm("imports.review_importitem"),
            query=f"kind={self.kind}&status={self.status}",
        )  # fmt: skip
        return ctx


class ReviewDecideView(PermissionRequiredMixin, View):
    permission_required = "imports.review_importitem"

    def post(self, request, pk):
        item = get_object_or_404(ReviewItem, pk=pk)
        form = ReviewForm(request.POST)
        if form.is_valid():
            try:
                services.review_decide(
                    actor=request.user, item=item, decision=form.cleaned_data["decision"],
                    note=form.cleaned_data["note"],
                )  # fmt: skip
                messages.success(request, f"{item.summary}: {form.cleaned_data['decision']}.")
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
                return self.again(request, item)
        else:
            messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
            return self.again(request, item)
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = "imports:review_list"
        return redirect(target or "imports:review_list")

    def again(self, request, item):
        """The queue again (this item's kind, open ones) with the typed note in its row."""
        view = ReviewListView()
        view.setup(request)
        view.request.GET = view.request.GET.copy()
        view.request.GET.update({"kind": item.kind})
        view.object_list = view.get_queryset()
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("imports:review_list")
        ctx = view.get_context_data(
            typed={"item": item.pk, "note": request.POST.get("note", "")}, next_url=target
        )
        return view.render_to_response(ctx, status=400)


class KeysetListBase(KeysetPaginationMixin, ListView):
    """Newest first, seeking on the primary key: no OFFSET, no full COUNT over 100k rows."""

    keyset_field = "pk"

    def get_context_data(self, **kwargs):
        page = self.paginate_keyset(self.object_list)
        return super().get_context_data(page=page, object_list=page.items, q=self.q, **kwargs)


class MemberListView(PermissionRequiredMixin, KeysetListBase):
    permission_required = "imports.view_member"
    template_name = "imports/member_list.html"

    def get_queryset(self):
        qs = Member.objects.all()
        self.q = self.request.GET.get("q", "").strip()
        if self.q:
            # trigram indexes on PostgreSQL (migration 0002) keep these substring searches fast
            match = (
                Q(email__icontains=self.q) | Q(phone__contains=self.q) | Q(name__icontains=self.q)
            )
            # phones are stored as imports normalise them (E.164): a local 0853… is +62853…
            phone = normalise.phone_query(self.q)
            if phone and phone != self.q:
                match |= Q(phone__contains=phone)
            qs = qs.filter(match)
        return qs


class OrderListView(PermissionRequiredMixin, KeysetListBase):
    permission_required = "imports.view_order"
    template_name = "imports/order_list.html"

    def get_queryset(self):
        qs = Order.objects.select_related("member", "product", "affiliate")
        self.q = self.request.GET.get("q", "").strip()
        if self.q:
            qs = qs.filter(Q(inv=self.q) | Q(member__email__icontains=self.q))
        if self.product is not None:
            qs = qs.filter(product_id=self.product)
        return qs

    def get(self, request, *args, **kwargs):
        raw = request.GET.get("product", "").strip()
        self.product = ascii_int(raw)
        if raw and self.product is None:
            return bad_request(
                "The product filter takes a product number written in digits 0-9, e.g. ?product=12."
            )
        return super().get(request, *args, **kwargs)


class PresetCreateView(PermissionRequiredMixin, View):
    """Map the columns of a file in another layout to a known layout's fields; save as preset.

    "Read headers" takes a sample (uploaded here, or the file of an earlier job) and turns each
    field into a pick list of the sample's header names (``sample_headers``: bounded reading of
    the header only, the documented exception to "parse uploads in the worker")."""

    permission_required = "imports.add_importjob"
    template_name = "imports/preset_form.html"

    def _kind(self, request) -> str:
        kind = request.POST.get("kind") or request.GET.get("kind") or JobKind.ORDERS
        return kind if kind in JobKind.values else JobKind.ORDERS

    def get(self, request):
        kind = self._kind(request)
        return self._render(request, PresetForm(kind=kind), kind, SampleForm())

    def post(self, request):
        kind = self._kind(request)
        if "read_headers" in request.POST:
            return self._read_headers(request, kind)
        headers = posted_headers(request.POST.get("headers", ""))
        form = PresetForm(request.POST, kind=kind, headers=headers)
        if form.is_valid():
            try:
                preset = services.preset_save(
                    actor=request.user, name=form.cleaned_data["name"], kind=kind,
                    mapping=form.mapping(),
                )  # fmt: skip
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request, f"Preset “{preset.name}” saved; choose it when uploading."
                )
                return redirect("imports:job_list")
        return self._render(request, form, kind, SampleForm(), status=400)

    def _read_headers(self, request, kind):
        sample_form = SampleForm(request.POST, request.FILES)
        typed = {"name": request.POST.get("name", "")}
        headers = []
        if sample_form.is_valid():
            upload = sample_form.cleaned_data["sample"]
            job = sample_form.cleaned_data["job"]
            try:
                if upload is not None:
                    headers = sample_headers.read_headers(upload)
                elif job is not None and job.file:
                    with job.file.open("rb") as fh:
                        headers = sample_headers.read_headers(fh)
                else:
                    sample_form.add_error("sample", "Choose a sample file or an earlier upload.")
            except (ValidationError, OSError) as exc:
                sample_form.add_error("sample", getattr(exc, "messages", None) or str(exc))
        form = PresetForm(initial=typed, kind=kind, headers=headers)
        status = 200 if headers else 400
        return self._render(request, form, kind, sample_form, status=status, read=bool(headers))

    def _render(self, request, form, kind, sample_form, status=200, read=False):
        from django.shortcuts import render

        ctx = {
            "form": form, "kind": kind, "kinds": JobKind.choices, "sample_form": sample_form,
            "headers": form.headers, "read": read,
        }  # fmt: skip
        return render(request, self.template_name, ctx, status=status)


# --- Product settings ----------------------------------------------------------------------------
def rupiah(value) -> str:
    """``Rp 150.000`` (Indonesian thousands dot), as Sejoli shows prices; ``""`` when unknown."""
    if value is None:
        return ""
    whole = int(value)
    text = f"Rp {whole:,}".replace(",", ".")
    cents = abs(value - whole)
    return f"{text},{int(cents * 100):02d}" if cents else text


def _count(qs):
    """A correlated ``COUNT(*)``: evaluated for the page's rows only, where an annotated join
    would group every order of every product before the page is cut."""
    return Subquery(qs.order_by().annotate(n=Func("pk", function="COUNT")).values("n")[:1])


class ProductListView(PermissionRequiredMixin, ListView):
    """Products and their settings, with the figures that say which ones block commissions.
    A fixed number of queries per page, whatever the number of products or orders."""

    permission_required = "imports.view_product"
    template_name = "imports/product_list.html"
    paginate_by = 25

    def get_queryset(self):
        product = OuterRef("pk")
        qs = Product.objects.annotate(
            order_count=_count(Order.objects.filter(product=product)),
            waiting_count=_count(
                Commission.objects.filter(order__product=product, amount__isnull=True)
            ),
        )
        self.needs_setting = self.request.GET.get("needs") == "setting"
        if self.needs_setting:
            qs = qs.without_commission_setting()
        return qs

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        for product in ctx["object_list"]:
            product.price_label = rupiah(product.price)
        ctx.update(
            needs_setting=self.needs_setting,
            query="needs=setting" if self.needs_setting else "",
            can_edit=self.request.user.has_perm(services.PERM_PRODUCTS),
            can_upload=self.request.user.has_perm("imports.add_importjob"),
        )
        return ctx


class ProductUpdateView(ServiceFormView):
    """A product's settings: one ``product_update`` call, which recomputes the commissions on
    the product's orders and settles its "needs a commission setting" review item."""

    permission_required = services.PERM_PRODUCTS
    form_class = ProductForm
    template_name = "imports/product_form.html"

    @cached_property
    def product(self):
        # loaded on first use, i.e. after the permission check: a viewer gets 403, not 404
        return get_object_or_404(Product, pk=self.kwargs["pk"])

    @property
    def title(self):
        return f"Settings of {self.product}"

    def get_initial(self):
        p = self.product
        value = p.commission_value
        if value is not None:
            # shown the way the form reads it back: Rupiah with thousands dots, percent plain
            value = (
                rupiah(value).removeprefix("Rp ")
                if p.commission_kind == CommissionKind.FIXED
                else f"{value.normalize():f}"
            )
        return {
            "price": rupiah(p.price).removeprefix("Rp "),
            "commission_kind": p.commission_kind,
            "commission_value": value,
            "access_days": p.access_days,
        }

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        commissions = Commission.objects.filter(order__product=self.product)
        ctx.update(
            product=self.product,
            price_label=rupiah(self.product.price),
            commission_count=commissions.count(),
            waiting_count=commissions.filter(amount__isnull=True).count(),
            cancel_url=ctx["cancel_url"] or reverse("imports:product_list"),
        )
        return ctx

    def call_service(self, form):
        return services.product_update(
            actor=self.request.user, product=self.product, **form.settings()
        )

    def after_service(self, product):
        n = product.recomputed
        if n is None:
            messages.info(self.request, f"Nothing changed: {product} already had these settings.")
        else:
            messages.success(
                self.request,
                f"Saved the settings of {product}: {n} commission{pluralize(n)} recomputed.",
            )
        return redirect(reverse("imports:product_list"))
