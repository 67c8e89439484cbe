from django.urls import path

from . import views

app_name = "compliance"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
    path("campaigns/new/", views.CampaignCreateView.as_view(), name="campaign_create"),
    path(
        "campaigns/from-finding/<int:pk>/",
        views.CampaignFromFindingView.as_view(),
        name="campaign_from_finding",
    ),
    path("campaigns/<int:pk>/", views.CampaignDetailView.as_view(), name="campaign_detail"),
    path(
        "campaigns/<int:pk>/items/<int:item>/waive/",
        views.ItemWaiveView.as_view(),
        name="item_waive",
    ),
    path("campaigns/<int:pk>/close/", views.CampaignCloseView.as_view(), name="campaign_close"),
    path(
        "campaigns/<int:pk>/export/<str:fmt>/",
        views.CampaignExportView.as_view(),
        name="campaign_export",
    ),
    path("reviews/start/", views.ReviewStartView.as_view(), name="review_start"),
    path("reviews/<int:pk>/", views.ReviewDetailView.as_view(), name="review_detail"),
    path(
        "reviews/<int:pk>/lines/<int:line>/decide/",
        views.LineDecideView.as_view(),
        name="line_decide",
    ),
    path("reviews/<int:pk>/complete/", views.ReviewCompleteView.as_view(), name="review_complete"),
    path(
        "reviews/<int:pk>/export/<str:fmt>/", views.ReviewExportView.as_view(), name="review_export"
    ),
]
