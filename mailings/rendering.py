"""Campaign templates: Django's template language, sandboxed.

Operators write the subject and body with ``{{ first_name }}`` and friends. The engine here has
no loaders, no ``{% load %}``, ``{% include %}``, ``{% debug %}``, ``{% url %}`` or
``{% csrf_token %}`` and only a short list of tags and filters (``ALLOWED_TAGS``,
``ALLOWED_FILTERS``); the context holds only the whitelisted member fields as plain strings
(``FIELDS``), never model instances, so a template cannot reach beyond them. Templates are
validated when a campaign is saved: they must compile and may name only those fields.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template import (
    Context,
    Engine,
    Library,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
)

# name -> what it holds (shown next to the template fields)
FIELDS = {
    "name": "the member's full name",
    "first_name": "the first word of the name",
    "email": "the member's e-mail address",
    "phone": "the member's phone number (E.164)",
    "group": "the member's group in Sejoli",
    "product": "the campaign's product (empty without a product filter)",
    "unsubscribe_url": "the member's unsubscribe link (added below the body when unused)",
}
ALLOWED_TAGS = ("if", "comment", "firstof")
ALLOWED_FILTERS = (
    "capfirst", "cut", "default", "default_if_none", "first", "last", "length", "lower",
    "title", "truncatechars", "truncatewords", "upper", "wordwrap", "yesno",
)  # fmt: skip
MAX_SUBJECT = 200
MAX_BODY = 50_000

library = Library()
for _tag in ALLOWED_TAGS:
    library.tag(_tag, defaulttags.register.tags[_tag])
for _filter in ALLOWED_FILTERS:
    library.filters[_filter] = defaultfilters.register.filters[_filter]


class SandboxEngine(Engine):
    default_builtins = []  # none of Django's tags and filters but those given below


_engine = SandboxEngine(loaders=[], libraries={}, autoescape=False, string_if_invalid="")
_engine.template_builtins = [library]


class _Fields(dict):
    """The context's data: records every name a template asks for that is not a field."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.unknown: set[str] = set()

    def __contains__(self, key):
        found = super().__contains__(key)
        if not found and key not in ("True", "False", "None"):
            self.unknown.add(key)
        return found


@dataclass(frozen=True)
class Compiled:
    subject: object
    body: object
    uses_unsubscribe: bool


SAMPLE = {
    "name": "Siti Rahayu",
    "first_name": "Siti",
    "email": "siti@example.com",
    "phone": "+6281234567890",
    "group": "member",
    "product": "Kelas Premium",
    "unsubscribe_url": "https://portal.example/mailings/unsubscribe/sample/",
}


def compile_templates(subject: str, body: str) -> Compiled:
    """Both templates compiled and checked against a sample member, or a ``ValidationError``
    keyed ``subject_template`` / ``body_template``."""
    errors: dict[str, str] = {}
    compiled = {}
    for key, source in (("subject_template", subject), ("body_template", body)):
        if not source.strip():
            errors[key] = "Write something here."
            continue
        try:
            compiled[key] = _engine.from_string(source)
        except TemplateSyntaxError as exc:
            errors[key] = f"Template error: {exc}. Tags allowed: {', '.join(ALLOWED_TAGS)}; " + (
                f"filters: {', '.join(ALLOWED_FILTERS)}."
            )
            continue
        data = _Fields(SAMPLE)
        try:
            text = compiled[key].render(Context(data, autoescape=False))
        except Exception as exc:  # a filter given a bad argument
            errors[key] = f"Template error: {exc}"
            continue
        if data.unknown:
            errors[key] = (
                f"Unknown field(s): {', '.join(sorted(data.unknown))}. Fields: {', '.join(FIELDS)}."
            )
        elif key == "subject_template" and ("\n" in text.strip() or len(text) > MAX_SUBJECT):
            errors[key] = f"The subject renders to one line of at most {MAX_SUBJECT} characters."
        elif len(text) > MAX_BODY:
            errors[key] = f"The message renders to more than {MAX_BODY} characters."
    if errors:
        raise ValidationError(errors)
    return Compiled(
        subject=compiled["subject_template"],
        body=compiled["body_template"],
        uses_unsubscribe="unsubscribe_url" in body,
    )


def member_fields(member, *, product: str, unsubscribe_url: str) -> dict[str, str]:
    name = (member.name or "").strip()
    return {
        "name": name,
        "first_name": name.split()[0] if name else "",
        "email": member.email or "",
        "phone": member.phone or "",
        "group": member.group or "",
        "product": product,
        "unsubscribe_url": unsubscribe_url,
    }


def render(compiled: Compiled, fields: dict[str, str]) -> tuple[str, str]:
    """(subject, body) for one member; the unsubscribe link is added when the body lacks it."""
    ctx = Context(dict(fields), autoescape=False)
    subject = " ".join(compiled.subject.render(ctx).split())[:MAX_SUBJECT]
    body = compiled.body.render(Context(dict(fields), autoescape=False))
    if not compiled.uses_unsubscribe:
        body = f"{body.rstrip()}\n\n--\nUnsubscribe: {fields['unsubscribe_url']}\n"
    return subject, body


def from_email(campaign) -> str:
    return campaign.from_email or settings.DEFAULT_FROM_EMAIL
