from django.urls import path
from django.views.generic import TemplateView

app_name = "runbooks"

urlpatterns = [
    path("", TemplateView.as_view(template_name="runbooks/runbook_list.html"), name="runbook_list"),
]
