from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("waiting/", views.WaitingView.as_view(), name="waiting"),
    path("waiting/count/", views.WaitingCountView.as_view(), name="waiting_count"),
    path("waiting/panel/", views.WaitingPanelView.as_view(), name="waiting_panel"),
    path("preferences/", views.PreferencesView.as_view(), name="preferences"),
    path("channels/", views.ChannelListView.as_view(), name="channel_list"),
    path("channels/new/", views.ChannelCreateView.as_view(), name="channel_create"),
    path("channels/<int:pk>/edit/", views.ChannelUpdateView.as_view(), name="channel_edit"),
    path("channels/<int:pk>/delete/", views.ChannelDeleteView.as_view(), name="channel_delete"),
    path("channels/<int:pk>/test/", views.ChannelTestView.as_view(), name="channel_test"),
    path("deliveries/", views.DeliveryLogView.as_view(), name="delivery_log"),
    path("deliveries/<int:pk>/retry/", views.DeliveryRetryView.as_view(), name="delivery_retry"),
]
