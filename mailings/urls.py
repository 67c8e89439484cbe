from django.urls import path

from . import views

app_name = "mailings"

urlpatterns = [
    path("", views.CampaignListView.as_view(), name="campaign_list"),
    path("new/", views.CampaignCreateView.as_view(), name="campaign_create"),
    path("<int:pk>/", views.CampaignDetailView.as_view(), name="campaign_detail"),
    path("<int:pk>/edit/", views.CampaignUpdateView.as_view(), name="campaign_edit"),
    path("<int:pk>/dry-run/", views.DryRunView.as_view(), name="campaign_dry_run"),
    path("<int:pk>/start/", views.StartView.as_view(), name="campaign_start"),
    path("<int:pk>/pause/", views.PauseView.as_view(), name="campaign_pause"),
    path("<int:pk>/resume/", views.ResumeView.as_view(), name="campaign_resume"),
    path("<int:pk>/cancel/", views.CancelView.as_view(), name="campaign_cancel"),
    path("<int:pk>/requeue/", views.RequeueUnknownView.as_view(), name="campaign_requeue"),
    path("unsubscribe/<str:token>/", views.UnsubscribeView.as_view(), name="unsubscribe"),
]
