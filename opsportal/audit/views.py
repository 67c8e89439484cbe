import json

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import DetailView, ListView

from opsportal.exports import escape_formula, stream_csv
from opsportal.generic import ServiceFormView
from opsportal.pagination import KeysetPaginationMixin

from .chain import TEXT_FIELDS
from .checkpoints import checkpoint_for_export
from .forms import AuditFilterForm, AuditRedactForm
from .models import AuditEvent
from .services import (
    REDACT_PERMISSION,
    attach_redaction_notes,
    audit_event_redact,
    chain_head,
    redactable_fields,
)

EXPORT_COLUMNS = (
    "seq",
    "at",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "tier",
    "environment_id",
    "changes",
    "message",
    "ip",
    "user_agent",
    "request_id",
    "job_id",
    "prev_hash",
    "hash",
)


EXPORT_CHUNK = 2000


class AuditAccessMixin(PermissionRequiredMixin):
    permission_required = "audit.view_auditevent"


class AuditListBase(AuditAccessMixin, KeysetPaginationMixin, ListView):
    def get_context_data(self, **kwargs):
        page = self.paginate_keyset(self.object_list)
        attach_redaction_notes(page.items)
        return super().get_context_data(page=page, events=page.items, **kwargs)


class AuditEventListView(AuditListBase):
    """The audit log with filters by operator, action, tier, target and date range."""

    template_name = "audit/event_list.html"

    def get_queryset(self):
        self.filter_form = AuditFilterForm(_filter_params(self.request.GET) or None)
        queryset = AuditEvent.objects.select_related("actor")
        if self.filter_form.is_bound:
            queryset = self.filter_form.filter(queryset)
        return queryset

    def get_context_data(self, **kwargs):
        query = _filter_params(self.request.GET).urlencode()
        return super().get_context_data(
            filter_form=self.filter_form, query=query, head=chain_head(), **kwargs
        )


class OperatorTimelineView(AuditListBase):
    """Everything one operator did, newest first."""

    template_name = "audit/operator_timeline.html"

    def get_queryset(self):
        self.operator = get_object_or_404(get_user_model(), username=self.kwargs["username"])
        return AuditEvent.objects.for_operator(self.operator).select_related("actor")

    def get_context_data(self, **kwargs):
        return super().get_context_data(operator=self.operator, **kwargs)


def _filter_params(params):
    """The filter part of a query string, without the page cursor."""
    params = params.copy()
    for name in ("before", "after", "page"):
        params.pop(name, None)
    return params


class AuditEventDetailView(AuditAccessMixin, DetailView):
    template_name = "audit/event_detail.html"
    slug_field = "seq"
    slug_url_kwarg = "seq"
    context_object_name = "event"

    def get_queryset(self):
        return AuditEvent.objects.all()

    def get_context_data(self, **kwargs):
        event = self.object
        attach_redaction_notes([event])
        changes = json.dumps(event.shown_changes, indent=2, sort_keys=True, ensure_ascii=False)
        can_redact = self.request.user.has_perm(REDACT_PERMISSION) and bool(
            redactable_fields(event)
        )
        return super().get_context_data(changes_json=changes, can_redact=can_redact, **kwargs)


class AuditEventRedactView(ServiceFormView):
    """Redact one field of an event: one ``audit_event_redact`` call (admins)."""

    permission_required = REDACT_PERMISSION
    form_class = AuditRedactForm
    template_name = "audit/event_redact.html"

    @cached_property
    def event(self) -> AuditEvent:
        # loaded after the permission check: a viewer gets 403, not 404
        return get_object_or_404(AuditEvent, seq=self.kwargs["seq"])

    @property
    def title(self) -> str:
        return f"Redact a field of audit event #{self.event.seq}"

    def get_form_kwargs(self):
        return {
            **super().get_form_kwargs(),
            "event": self.event,
            "paths": redactable_fields(self.event),
        }

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["event"] = self.event
        ctx["cancel_url"] = self.event.get_absolute_url()
        return ctx

    def call_service(self, form):
        self.redacted_field = form.cleaned_data["field"]
        return audit_event_redact(
            actor=self.request.user,
            event=self.event,
            field=self.redacted_field,
            reason=form.cleaned_data["reason"],
        )

    def after_service(self, result):
        messages.success(self.request, f"{self.redacted_field} of event #{result.seq} is redacted.")
        return redirect(result)


def _export_value(event: dict, column: str):
    value = event[column]
    if column == "changes":
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if column == "at":
        return value.isoformat()
    return value


class AuditExportView(AuditAccessMixin, View):
    """Stream the (filtered) log as CSV or JSON, with the chain head hash at export time."""

    def get(self, request, fmt: str):
        form = AuditFilterForm(_filter_params(request.GET) or None)
        queryset = AuditEvent.objects.all()
        if form.is_bound:
            queryset = form.filter(queryset)
        head = chain_head()
        checkpoint_for_export()  # the head the export names, signed outside the database
        rows = _seek(queryset, upto=head.seq)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        if fmt == "csv":
            response = StreamingHttpResponse(
                stream_csv(_csv_rows(rows, head)), content_type="text/csv; charset=utf-8"
            )
        else:
            response = StreamingHttpResponse(
                _json_stream(rows, head), content_type="application/json"
            )
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
        return response


def _seek(queryset, *, upto: int):
    """The rows up to the chain head, in seq order, read a chunk at a time by seeking on seq.

    Memory stays bounded without a server-side cursor (which a transaction-mode pooler such as
    PgBouncer cannot keep open), and events appended while a long export streams stay out of
    it, so the file matches the head it names.
    """
    last, chunk = 0, EXPORT_CHUNK
    while True:
        rows = list(
            queryset.filter(seq__gt=last, seq__lte=upto)
            .order_by("seq")
            .values(*EXPORT_COLUMNS, "redactions")[:chunk]
        )
        _show_redactions(rows)
        yield from rows
        if len(rows) < chunk:
            return
        last = rows[-1]["seq"]


def _show_redactions(rows: list[dict]) -> None:
    """Export a redacted field as its note, as the pages show it (one query a chunk at most)."""
    redacted = [
        (row, AuditEvent(seq=row["seq"], redactions=row["redactions"], changes=row["changes"]))
        for row in rows
        if row["redactions"]
    ]
    attach_redaction_notes([event for _, event in redacted])
    for row, event in redacted:
        for name in TEXT_FIELDS:
            if event.is_redacted(name) and name in row:
                row[name] = event.redaction_note(name)
        row["changes"] = event.shown_changes


def _csv_rows(rows, head):
    yield [f"# opsportal audit export; chain head #{head.seq} {head.hash}"]
    yield EXPORT_COLUMNS
    for event in rows:
        yield [_export_value(event, c) for c in EXPORT_COLUMNS]


def _json_stream(rows, head):
    yield '{"chain_head": ' + json.dumps({"seq": head.seq, "hash": head.hash}) + ', "events": ['
    first = True
    for event in rows:
        item = {c: escape_formula(_export_value(event, c)) for c in EXPORT_COLUMNS}
        yield ("" if first else ",") + json.dumps(item, ensure_ascii=False, default=str)
        first = False
    yield "]}"
