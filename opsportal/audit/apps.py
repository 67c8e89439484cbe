from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "opsportal.audit"
    label = "audit"
    verbose_name = "Audit trail"
