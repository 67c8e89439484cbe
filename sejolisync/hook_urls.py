"""The shops' endpoint, mounted at /hooks/sejoli/ (outside the login-protected pages)."""

from django.urls import path

from . import views

urlpatterns = [
    path("<str:token>/", views.HookReceiveView.as_view(), name="sejoli_hook"),
]
