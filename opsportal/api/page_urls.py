from django.urls import path

from . import views

app_name = "api_tokens"

urlpatterns = [
    path("", views.MyTokensView.as_view(), name="mine"),
    path("service/", views.ServiceTokensView.as_view(), name="service"),
    path("<int:pk>/revoke/", views.TokenRevokeView.as_view(), name="revoke"),
]
