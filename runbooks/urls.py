from django.urls import path

from . import views

app_name = "runbooks"

urlpatterns = [
    path("", views.RunbookListView.as_view(), name="runbook_list"),
    path("import/", views.RunbookImportView.as_view(), name="runbook_import"),
    path(
        "import/<slug:token>/",
        views.RunbookImportPreviewView.as_view(),
        name="runbook_import_preview",
    ),
    path("<int:pk>/", views.RunbookDetailView.as_view(), name="runbook_detail"),
    path("<int:pk>/settings/", views.RunbookSettingsView.as_view(), name="runbook_settings"),
    path("<int:pk>/diff/", views.VersionDiffView.as_view(), name="version_diff"),
    path("versions/<int:pk>/", views.VersionDetailView.as_view(), name="version_detail"),
    path("versions/<int:pk>/run/", views.RunStartView.as_view(), name="run_start"),
    path("steps/<int:pk>/edit/", views.StepEditView.as_view(), name="step_edit"),
    path("steps/<int:pk>/move/", views.StepMoveView.as_view(), name="step_move"),
    path("phases/<int:pk>/gate/", views.PhaseGateView.as_view(), name="phase_gate"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run_detail"),
    path("runs/<int:pk>/complete/", views.RunCompleteView.as_view(), name="run_complete"),
    path("runs/<int:pk>/abort/", views.RunAbortView.as_view(), name="run_abort"),
    path("runs/<int:pk>/report/", views.RunReportView.as_view(), name="run_report"),
    path(
        "runs/<int:pk>/report.md",
        views.RunReportView.as_view(),
        {"fmt": "md"},
        name="run_report_md",
    ),
    path("step-runs/<int:pk>/evidence/", views.EvidenceView.as_view(), name="evidence"),
    path("step-runs/<int:pk>/<slug:action>/", views.StepActionView.as_view(), name="step_action"),
]
