"""What a notify hook remembers between events (``Mark``): recall and remember by key."""

from django.utils import timezone

from .models import Mark


def recall(key: str, default=None):
    value = Mark.objects.filter(key=key).values_list("value", flat=True).first()
    return default if value is None else value


def remember(key: str, value) -> None:
    Mark.objects.update_or_create(key=key, defaults={"value": value, "updated_at": timezone.now()})
