import json

from django.apps import apps
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import DetailView, ListView

from opsportal.exports import escape_formula, stream_csv
from opsportal.generic import ServiceFormView
from opsportal.pagination import KeysetPaginationMixin

from .chain import TEXT_FIELDS
from .checkpoints import checkpoint_for_export
from .diff import readable
from .forms import AuditFilterForm, AuditRedactForm
from .links import references, registry, type_label
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


# Events of the same request shown on an event's page (a bulk import request has thousands).
SAME_REQUEST_SHOWN = 20


class AuditEventDetailView(AuditAccessMixin, DetailView):
    """One event: what it belongs to, who asked and who approved, before → after, raw JSON."""

    template_name = "audit/event_detail.html"
    slug_field = "seq"
    slug_url_kwarg = "seq"
    context_object_name = "event"

    def get_queryset(self):
        return AuditEvent.objects.select_related("actor")

    def get_context_data(self, **kwargs):
        event = self.object
        attach_redaction_notes([event])
        shown = event.shown_changes
        changes = json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False)
        can_redact = self.request.user.has_perm(REDACT_PERMISSION) and bool(
            redactable_fields(event)
        )
        same_request = []
        if event.request_id:
            same_request = list(
                AuditEvent.objects.for_request(event.request_id)
                .exclude(pk=event.pk)
                .order_by("seq")[: SAME_REQUEST_SHOWN + 1]
            )
        return super().get_context_data(
            changes_json=changes,
            readable=readable(shown),
            references=references(shown),
            approval=_approval(event),
            target_label=type_label(event.target_type) if event.target_type else "",
            same_request=same_request[:SAME_REQUEST_SHOWN],
            more_same_request=len(same_request) > SAME_REQUEST_SHOWN,
            can_redact=can_redact,
            **kwargs,
        )


def _approval(event: AuditEvent) -> dict | None:
    """Who asked and who approved, for an event a change request caused (the request's
    approval, its application and the changes it applied carry ``author``)."""
    if not event.requester:
        return None
    # the approver applies the request and its changes; other decisions (rejected, withdrawn,
    # stale, superseded) name their actor as the operator, not as an approver
    approving = not event.action.startswith("changerequest.") or event.action in (
        "changerequest.approved",
        "changerequest.applied",
    )
    approver = event.shown["actor_label"] if approving else ""
    return {"requester": event.requester, "approver": approver}


class TargetHistoryView(AuditListBase):
    """Everything recorded about one object (a variable, a runbook, a member…), newest first;
    also for an object deleted since (its events stay)."""

    template_name = "audit/target_history.html"

    def get_queryset(self):
        target_type, target_id = self.kwargs["target_type"], self.kwargs["target_id"]
        self.obj = _load_target(target_type, target_id)
        if self.obj is not None:
            queryset = AuditEvent.objects.for_target(self.obj)
        else:
            queryset = AuditEvent.objects.filter(target_type=target_type, target_id=target_id)
        return queryset.select_related("actor")

    def get_context_data(self, **kwargs):
        target_type = self.kwargs["target_type"]
        return super().get_context_data(
            obj=self.obj,
            target_type=target_type,
            target_id=self.kwargs["target_id"],
            target_label=type_label(target_type),
            obj_url=_object_url(self.obj),
            **kwargs,
        )


class TargetRedirectView(AuditAccessMixin, View):
    """An event's target by content type: its page (``get_absolute_url``), an operator's
    timeline, or its history here when it has no page or no longer exists."""

    def get(self, request, target_type: str, target_id: str):
        obj = _load_target(target_type, target_id)
        url = _object_url(obj)
        if url:
            return redirect(url)
        if (
            obj is None
            and not AuditEvent.objects.filter(target_type=target_type, target_id=target_id).exists()
        ):
            raise Http404("Nothing was recorded about this.")
        return redirect("audit:target_history", target_type=target_type, target_id=target_id)


def _load_target(target_type: str, target_id: str):
    """The object an event names, only if the trail knows of it: an event targets it, or its
    app keeps a history rule for its type. Nothing else is loaded by a name in the address (no
    other model's rows, say sessions, become a yes/no oracle or a title)."""
    try:
        model = apps.get_model(target_type)
    except (LookupError, ValueError):
        return None
    recorded = AuditEvent.objects.filter(target_type=target_type, target_id=target_id)
    known = target_type in registry().history or model is get_user_model()  # users: activity
    if not known and not recorded.exists():
        return None
    try:
        pk = model._meta.pk.to_python(target_id)
    except (ValidationError, ValueError, TypeError):
        return None  # not an id of this model (a word for an integer key)
    if isinstance(pk, int) and not -(2**63) <= pk < 2**63:
        return None
    return model._default_manager.filter(pk=pk).first()


def _object_url(obj) -> str | None:
    if obj is None:
        return None
    if obj._meta.label_lower == get_user_model()._meta.label_lower:
        return reverse("audit:operator_timeline", args=[obj.get_username()])
    getter = getattr(obj, "get_absolute_url", None)
    return getter() if getter is not None else None


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
