"""Pages of this app held to the query budget and measured by the pages bench
(``opsportal/hotpages.py`` collects every app's)."""

from urllib.parse import urlencode

from django.urls import reverse

from opsportal.audit.links import history_url

from .models import ImportJob, Member, SampleVerification


def pages() -> list[tuple[str, str]]:
    out = []
    member = Member.objects.order_by("-pk").first()
    if member:
        out.append(("member history", history_url(member)))
    out.append(("import jobs", reverse("imports:job_list")))
    job = ImportJob.objects.order_by("-total_rows", "-pk").first()
    if job:
        out.append(("import job", job.get_absolute_url()))
    out.append(("members", reverse("imports:member_list")))
    email = Member.objects.exclude(email=None).order_by("-pk").values_list("email", flat=True)
    email = email.first()
    if email:
        out.append(("member search", f"{reverse('imports:member_list')}?q={email}"))
        out.append(("search member", f"{reverse('search')}?{urlencode({'q': email})}"))
    out.append(("orders", reverse("imports:order_list")))
    out.append(("review queue", reverse("imports:review_list")))
    # sample verification: the list, the latest drawn sample and its first member
    out.append(("sample verifications", reverse("imports:verification_list")))
    sample = SampleVerification.objects.filter(items__isnull=False).order_by("-pk").first()
    if sample:
        out.append(("sample verification", sample.get_absolute_url()))
        out.append(("sampled member", reverse("imports:verification_item", args=[sample.pk, 1])))
    return out
