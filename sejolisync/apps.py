from django.apps import AppConfig


class SejolisyncConfig(AppConfig):
    name = "sejolisync"
    verbose_name = "Sejoli order sync"
    default_auto_field = "django.db.models.BigAutoField"
