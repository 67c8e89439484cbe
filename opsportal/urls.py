from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from .accounts.views import AccountSettingsView, PortalPasswordChangeView
from .views import DashboardView, HealthView, SearchView

urlpatterns = [
    path("", DashboardView.as_view(), name="dashboard"),
    path("healthz", HealthView.as_view(), name="healthz"),
    path("search/", SearchView.as_view(), name="search"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        PortalPasswordChangeView.as_view(),
        name="password_change",
    ),
    path("accounts/settings/", AccountSettingsView.as_view(), name="account_settings"),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("audit/", include("opsportal.audit.urls")),
    path("environments/", include("environments.urls")),
    path("runbooks/", include("runbooks.urls")),
    path("imports/", include("imports.urls")),
    path("mailings/", include("mailings.urls")),
    path("deployments/", include("deployments.urls")),
    path("sejoli/", include("sejolisync.urls")),
    path("hooks/sejoli/", include("sejolisync.hook_urls")),
    path("notifications/", include("notifications.urls")),
    # /calendar/ and /operations/schedules/ (operations/urls.py)
    path("", include("operations.urls")),
    path("compliance/", include("compliance.urls")),
    path("api/", include("opsportal.api.urls")),
    path("accounts/tokens/", include("opsportal.api.page_urls")),
    path("admin/", admin.site.urls),
]

# Styled error pages (opsportal/errors.py); the 500 page renders without touching the database.
handler403 = "opsportal.errors.permission_denied"
handler404 = "opsportal.errors.page_not_found"
handler500 = "opsportal.errors.server_error"
