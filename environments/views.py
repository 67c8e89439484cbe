from django.contrib.auth.mixins import PermissionRequiredMixin
from django.views.generic import DetailView, ListView

from .models import Environment, Project


class ProjectListView(PermissionRequiredMixin, ListView):
    permission_required = "environments.view_project"
    queryset = Project.objects.prefetch_related("environments")
    template_name = "environments/project_list.html"
    paginate_by = 25


class ProjectDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "environments.view_project"
    queryset = Project.objects.all()
    template_name = "environments/project_detail.html"


class EnvironmentDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "environments.view_environment"
    queryset = Environment.objects.select_related("project")
    template_name = "environments/environment_detail.html"
