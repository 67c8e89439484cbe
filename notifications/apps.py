from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Hear of every audit event a notify hook handles, once it has committed.
        from opsportal import events

        from . import engine, registry

        for pattern in registry.action_patterns():
            events.subscribe(pattern, engine.on_event)
