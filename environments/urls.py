from django.urls import path

from . import views

app_name = "environments"

urlpatterns = [
    path("", views.ProjectListView.as_view(), name="project_list"),
    path("projects/<slug:slug>/", views.ProjectDetailView.as_view(), name="project_detail"),
    path("<int:pk>/", views.EnvironmentDetailView.as_view(), name="environment_detail"),
]
