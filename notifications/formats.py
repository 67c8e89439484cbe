"""One notification as each service wants it: e-mail text and chat webhook payloads.

Why hand-written payloads rather than apprise: apprise speaks to most chat services, but it
opens its own connections (our address policy, ``opsportal.outbound``, would not vet them), its
``notify()`` reports a bare True/False (the delivery log needs the status and the service's own
error text, masked) and it would bring a large dependency for four small JSON shapes, which are:

- Slack incoming webhook: ``{"text": …}`` in Slack's mrkdwn (``&``, ``<``, ``>`` escaped; links
  as ``<url|label>``); Slack answers ``200 ok`` or a plain-text error (``invalid_payload``,
  ``no_team``…).
- Discord channel webhook: ``{"content": …}`` (2,000 characters at most) with
  ``allowed_mentions: {"parse": []}`` so no text ever pings anyone; Discord answers 204.
- Microsoft Teams Workflows webhook ("post to a channel when a webhook request is received"):
  a message whose one attachment is an Adaptive Card.
- Generic JSON: the notification's fields, for anything else (a bot, an incident tool).

Every text here comes from a stored notification, already masked (``engine.render_body``).
"""

from __future__ import annotations

import re

from django.conf import settings

from .models import Notification

DISCORD_MAX = 2000
SLACK_MAX = 3500


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def email_text(notification: Notification, *, footer: str = "") -> str:
    parts = [notification.body, "", f"Open in opsportal: {notification.link}"]
    if footer:
        parts += ["", "-- ", footer]
    return "\n".join(parts).strip() + "\n"


def email_subject(notification: Notification) -> str:
    return f"[opsportal] {notification.subject}"


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(notification: Notification) -> dict:
    facts = "".join(
        f"\n• {_slack_escape(k)}: {_slack_escape(v)}" for k, v in notification.facts.items()
    )
    text = (
        f"*{_slack_escape(notification.subject)}*\n{_slack_escape(notification.body)}{facts}\n"
        f"<{notification.link}|Open in opsportal>"
    )
    return {"text": _cut(text, SLACK_MAX), "unfurl_links": False, "unfurl_media": False}


_DISCORD_MARKUP = re.compile(r"([\\*_~`|>#\[\]()-])")


def _discord_escape(text: str) -> str:
    return _DISCORD_MARKUP.sub(r"\\\1", text)


def discord(notification: Notification) -> dict:
    facts = "".join(
        f"\n{_discord_escape(k)}: {_discord_escape(v)}" for k, v in notification.facts.items()
    )
    link = f"\n<{notification.link}>"  # angle brackets: a link without an embed
    body = f"**{_discord_escape(notification.subject)}**\n{_discord_escape(notification.body)}"
    return {
        "content": _cut(body + facts, DISCORD_MAX - len(link)) + link,
        "allowed_mentions": {"parse": []},
    }


def teams(notification: Notification) -> dict:
    body: list[dict] = [
        {"type": "TextBlock", "text": notification.subject, "weight": "Bolder", "wrap": True},
        {"type": "TextBlock", "text": notification.body, "wrap": True},
    ]
    if notification.facts:
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": k, "value": v} for k, v in notification.facts.items()],
            }
        )
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [
            {"type": "Action.OpenUrl", "title": "Open in opsportal", "url": notification.link}
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def webhook(notification: Notification) -> dict:
    return {
        "source": "opsportal",
        "event": notification.event,
        "subject": notification.subject,
        "text": notification.body,
        "url": notification.link,
        "facts": notification.facts,
        "notification": notification.pk,
        "portal": settings.PORTAL_BASE_URL,
        "created_at": notification.created_at.isoformat(),
    }


PAYLOADS = {"slack": slack, "discord": discord, "teams": teams, "webhook": webhook}


def payload(kind: str, notification: Notification) -> dict:
    return PAYLOADS[kind](notification)
