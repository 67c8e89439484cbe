from django.urls import path
from django.views.generic import TemplateView

app_name = "imports"

urlpatterns = [
    path("", TemplateView.as_view(template_name="imports/job_list.html"), name="job_list"),
]
