"""Pages of this app held to the query budget and measured by the pages bench
(``opsportal/hotpages.py`` collects every app's)."""

from django.urls import reverse

from .models import ShopHook


def pages() -> list[tuple[str, str]]:
    out = [("sejoli sync", reverse("sejolisync:hook_list"))]
    hook = ShopHook.objects.order_by("-pk").first()
    if hook:
        out.append(("sejoli shop", hook.get_absolute_url()))
    return out
