from django.urls import path

from . import views

app_name = "environments"

urlpatterns = [
    path("", views.ProjectListView.as_view(), name="project_list"),
    path("projects/new/", views.ProjectCreateView.as_view(), name="project_create"),
    path("projects/<slug:slug>/", views.ProjectDetailView.as_view(), name="project_detail"),
    path("projects/<slug:slug>/edit/", views.ProjectUpdateView.as_view(), name="project_edit"),
    path(
        "projects/<slug:slug>/compare/", views.ProjectCompareView.as_view(), name="project_compare"
    ),
    path(
        "projects/<slug:slug>/export/<str:fmt>/",
        views.ProjectExportView.as_view(),
        name="project_export",
    ),
    path(
        "projects/<slug:slug>/environments/new/",
        views.EnvironmentCreateView.as_view(),
        name="environment_create",
    ),
    path("<int:pk>/", views.EnvironmentDetailView.as_view(), name="environment_detail"),
    path("<int:pk>/edit/", views.EnvironmentUpdateView.as_view(), name="environment_edit"),
    path("<int:pk>/deployments/new/", views.DeploymentAddView.as_view(), name="deployment_add"),
    path(
        "deployments/<int:pk>/remove/",
        views.DeploymentRemoveView.as_view(),
        name="deployment_remove",
    ),
    path("<int:pk>/variables/new/", views.ConfigVarCreateView.as_view(), name="configvar_create"),
    path("variables/<int:pk>/edit/", views.ConfigVarUpdateView.as_view(), name="configvar_edit"),
    path(
        "variables/<int:pk>/delete/", views.ConfigVarDeleteView.as_view(), name="configvar_delete"
    ),
    path(
        "variables/<int:pk>/rotate/", views.ConfigVarRotateView.as_view(), name="configvar_rotate"
    ),
    path("<int:pk>/import/", views.EnvImportView.as_view(), name="env_import"),
    path(
        "<int:pk>/import/<str:token>/",
        views.EnvImportPreviewView.as_view(),
        name="env_import_preview",
    ),
    path("change-requests/", views.ChangeRequestListView.as_view(), name="changerequest_list"),
    path(
        "change-requests/<int:pk>/",
        views.ChangeRequestDetailView.as_view(),
        name="changerequest_detail",
    ),
    path(
        "change-requests/<int:pk>/<str:decision>/",
        views.ChangeRequestDecisionView.as_view(),
        name="changerequest_decide",
    ),
]
