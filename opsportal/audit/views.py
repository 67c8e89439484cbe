import json

from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views import View
from django.views.generic import DetailView, ListView

from opsportal.exports import escape_formula, stream_csv
from opsportal.pagination import KeysetPaginationMixin

from .forms import AuditFilterForm
from .models import AuditEvent
from .services import chain_head

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
        changes = json.dumps(self.object.changes, indent=2, sort_keys=True, ensure_ascii=False)
        return super().get_context_data(changes_json=changes, **kwargs)


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
            .values(*EXPORT_COLUMNS)[:chunk]
        )
        yield from rows
        if len(rows) < chunk:
            return
        last = rows[-1]["seq"]


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
