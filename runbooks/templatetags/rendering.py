"""``{% load rendering %}``: ``{{ text|markdown }}`` renders plan Markdown as sanitized HTML."""

from django import template

from runbooks.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text):
    """Plan Markdown (a step body, a description, a note, a rollback plan) as safe HTML."""
    return render_markdown(text)


@register.filter
def evidence_name(step_run) -> str:
    """A step run's evidence file by the name it was uploaded with."""
    from runbooks.report import evidence_name as name

    return name(step_run)
