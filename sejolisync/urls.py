from django.urls import path

from . import views

app_name = "sejolisync"

urlpatterns = [
    path("", views.HookListView.as_view(), name="hook_list"),
    path("hooks/<int:pk>/", views.HookDetailView.as_view(), name="hook_detail"),
    path("hooks/<int:pk>/processing/", views.HookSwitchView.as_view(), name="hook_switch"),
    path("hooks/<int:pk>/replay/", views.HookReplayFailuresView.as_view(), name="hook_replay"),
    path("deliveries/<int:pk>/", views.DeliveryDetailView.as_view(), name="delivery_detail"),
    path("deliveries/<int:pk>/replay/", views.DeliveryReplayView.as_view(), name="delivery_replay"),
]
