from django.urls import path

from . import views

app_name = "api_tokens"

urlpatterns = [
    path("", views.MyTokensView.as_view(), name="mine"),
]
