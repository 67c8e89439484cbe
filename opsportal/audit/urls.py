from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.AuditEventListView.as_view(), name="event_list"),
    path("events/<int:seq>/", views.AuditEventDetailView.as_view(), name="event_detail"),
    path("events/<int:seq>/redact/", views.AuditEventRedactView.as_view(), name="event_redact"),
    path(
        "operators/<str:username>/", views.OperatorTimelineView.as_view(), name="operator_timeline"
    ),
    path(
        "history/<str:target_type>/<str:target_id>/",
        views.TargetHistoryView.as_view(),
        name="target_history",
    ),
    path(
        "to/<str:target_type>/<str:target_id>/",
        views.TargetRedirectView.as_view(),
        name="target",
    ),
    path("export.csv", views.AuditExportView.as_view(), {"fmt": "csv"}, name="export_csv"),
    path("export.json", views.AuditExportView.as_view(), {"fmt": "json"}, name="export_json"),
]
