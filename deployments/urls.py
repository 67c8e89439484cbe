from django.urls import path

from . import views

app_name = "deployments"

urlpatterns = [
    path("", views.LedgerView.as_view(), name="ledger"),
    path("environments/<int:pk>/", views.LedgerView.as_view(), name="environment_ledger"),
    path("environments/<int:pk>/timeline/", views.TimelineView.as_view(), name="timeline"),
    path("<int:pk>/", views.DeploymentDetailView.as_view(), name="deployment_detail"),
    path("<int:pk>/rolled-back/", views.RolledBackView.as_view(), name="deployment_rolled_back"),
    path("dora/", views.DoraView.as_view(), name="dora"),
    path("dora.csv", views.DoraCsvView.as_view(), name="dora_csv"),
    path("webhooks/vercel", views.VercelWebhookView.as_view(), name="webhook_vercel"),
    path("webhooks/render", views.RenderWebhookView.as_view(), name="webhook_render"),
]
