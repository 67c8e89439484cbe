"""``{% job_campaigns job %}``: the welcome e-mails of an import, on the import's job page."""

from django import template

from ..models import Campaign

register = template.Library()


@register.inclusion_tag("mailings/_job_campaigns.html", takes_context=True)
def job_campaigns(context, job):
    user = context["request"].user
    if not user.has_perm("mailings.view_campaign"):
        return {"campaigns": [], "can_create": False, "job": job, "hidden": True}
    return {
        "campaigns": list(Campaign.objects.filter(job=job).order_by("-pk")[:10]),
        "can_create": user.has_perm("mailings.add_campaign") and job.status == "completed",
        "job": job,
    }
