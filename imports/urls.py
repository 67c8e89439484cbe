from django.urls import path

from . import verification_views as vv
from . import views

app_name = "imports"

urlpatterns = [
    path("", views.ImportJobListView.as_view(), name="job_list"),
    path("upload/", views.ImportJobUploadView.as_view(), name="job_upload"),
    path("jobs/<int:pk>/", views.ImportJobDetailView.as_view(), name="job_detail"),
    path("jobs/<int:pk>/confirm/", views.ImportJobConfirmView.as_view(), name="job_confirm"),
    path("jobs/<int:pk>/cancel/", views.ImportJobCancelView.as_view(), name="job_cancel"),
    path("jobs/<int:pk>/resume/", views.ImportJobResumeView.as_view(), name="job_resume"),
    path("jobs/<int:pk>/rollback/", views.ImportJobRollbackView.as_view(), name="job_rollback"),
    path("jobs/<int:pk>/errors.csv", views.ImportJobErrorsView.as_view(), name="job_errors"),
    path(
        "jobs/<int:pk>/rejected.csv",
        views.ImportJobRejectedRowsView.as_view(),
        name="job_rejected_rows",
    ),
    path(
        "jobs/<int:pk>/report.<str:fmt>",
        views.ImportJobReportView.as_view(),
        name="job_report",
    ),
    path("jobs/<int:pk>/verify/", vv.VerificationStartView.as_view(), name="verification_start"),
    path("verifications/", vv.VerificationListView.as_view(), name="verification_list"),
    path("verifications/panel/", vv.VerificationPanelView.as_view(), name="verification_panel"),
    path(
        "verifications/<int:pk>/",
        vv.VerificationDetailView.as_view(),
        name="verification_detail",
    ),
    path(
        "verifications/<int:pk>/redraw/",
        vv.VerificationRedrawView.as_view(),
        name="verification_redraw",
    ),
    path(
        "verifications/<int:pk>/members/<int:position>/",
        vv.VerificationItemView.as_view(),
        name="verification_item",
    ),
    path(
        "verifications/<int:pk>/members/<int:position>/mark/",
        vv.VerificationMarkView.as_view(),
        name="verification_mark",
    ),
    path(
        "verifications/<int:pk>/complete/",
        vv.VerificationCompleteView.as_view(),
        name="verification_complete",
    ),
    path(
        "verifications/<int:pk>/report/",
        vv.VerificationReportView.as_view(),
        name="verification_report",
    ),
    path(
        "verifications/<int:pk>/report.<str:fmt>",
        vv.VerificationReportView.as_view(),
        name="verification_report_file",
    ),
    path("presets/new/", views.PresetCreateView.as_view(), name="preset_create"),
    path("reviews/", views.ReviewListView.as_view(), name="review_list"),
    path("reviews/<int:pk>/decide/", views.ReviewDecideView.as_view(), name="review_decide"),
    path("members/", views.MemberListView.as_view(), name="member_list"),
    path("orders/", views.OrderListView.as_view(), name="order_list"),
    path("products/", views.ProductListView.as_view(), name="product_list"),
    path("products/<int:pk>/edit/", views.ProductUpdateView.as_view(), name="product_edit"),
]
