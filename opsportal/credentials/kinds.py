"""The kinds of value the classifier tells apart, and the families drift rules use."""

from dataclasses import dataclass

from django.db import models


class Kind(models.TextChoices):
    """What a value looks like; stored for secrets instead of the value itself."""

    EMPTY = "empty", "Empty"
    REFERENCE = "reference", "Reference to another variable"
    STRIPE_SECRET_LIVE = "stripe_secret_live", "Stripe secret key (live)"
    STRIPE_SECRET_TEST = "stripe_secret_test", "Stripe secret key (test)"
    STRIPE_PUBLISHABLE_LIVE = "stripe_publishable_live", "Stripe publishable key (live)"
    STRIPE_PUBLISHABLE_TEST = "stripe_publishable_test", "Stripe publishable key (test)"
    STRIPE_RESTRICTED_LIVE = "stripe_restricted_live", "Stripe restricted key (live)"
    STRIPE_RESTRICTED_TEST = "stripe_restricted_test", "Stripe restricted key (test)"
    STRIPE_WEBHOOK_SECRET = "stripe_webhook_secret", "Stripe webhook signing secret"
    CLERK_WEBHOOK_SECRET = "clerk_webhook_secret", "Clerk (Svix) webhook signing secret"
    WEBHOOK_SECRET = "webhook_secret", "Webhook signing secret (whsec_)"
    CLERK_SECRET_LIVE = "clerk_secret_live", "Clerk secret key (live)"
    CLERK_SECRET_TEST = "clerk_secret_test", "Clerk secret key (test)"
    CLERK_PUBLISHABLE_LIVE = "clerk_publishable_live", "Clerk publishable key (live)"
    CLERK_PUBLISHABLE_TEST = "clerk_publishable_test", "Clerk publishable key (test)"
    CONVEX_DEPLOYMENT = "convex_deployment", "Convex deployment name"
    CONVEX_DEPLOY_KEY = "convex_deploy_key", "Convex deploy key"
    CONVEX_URL = "convex_url", "Convex URL"
    SUPABASE_URL = "supabase_url", "Supabase URL"
    SUPABASE_ANON_KEY = "supabase_anon_key", "Supabase anon key (JWT)"
    SUPABASE_SERVICE_KEY = "supabase_service_key", "Supabase service-role key (JWT)"
    SUPABASE_PUBLISHABLE_KEY = "supabase_publishable_key", "Supabase publishable key"
    SUPABASE_SECRET_KEY = "supabase_secret_key", "Supabase secret key"
    REDIS_URL = "redis_url", "Redis URL"
    DATABASE_URL = "database_url", "Database URL"
    OPENAI_KEY = "openai_key", "OpenAI API key"
    ANTHROPIC_KEY = "anthropic_key", "Anthropic API key"
    GITHUB_TOKEN = "github_token", "GitHub token"
    AWS_ACCESS_KEY = "aws_access_key", "AWS access key ID"
    GOOGLE_API_KEY = "google_api_key", "Google API key"
    RESEND_KEY = "resend_key", "Resend API key"
    SENDGRID_KEY = "sendgrid_key", "SendGrid API key"
    TWILIO_KEY = "twilio_key", "Twilio API key"
    SLACK_TOKEN = "slack_token", "Slack token"
    SLACK_WEBHOOK = "slack_webhook", "Slack webhook URL"
    DISCORD_WEBHOOK = "discord_webhook", "Discord webhook URL"
    TELEGRAM_BOT = "telegram_bot", "Telegram bot token"
    TEAMS_WEBHOOK = "teams_webhook", "Microsoft Teams webhook URL"
    WEBHOOK_URL = "webhook_url", "Webhook URL with a token"
    SENTRY_DSN = "sentry_dsn", "Sentry DSN"
    POSTHOG_PROJECT_KEY = "posthog_project_key", "PostHog project key"
    POSTHOG_PERSONAL_KEY = "posthog_personal_key", "PostHog personal API key"
    OPSPORTAL_TOKEN = "opsportal_token", "opsportal API token"
    PRIVATE_KEY = "private_key", "Private key (PEM)"
    JWT = "jwt", "JWT"
    URL_WITH_CREDENTIALS = "url_credentials", "URL with credentials"
    URL = "url", "URL"
    EMAIL = "email", "E-mail address"
    UUID = "uuid", "UUID"
    RANDOM = "random", "Random string"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Boolean"
    TEXT = "text", "Text"


TEST_KINDS = frozenset(
    {
        Kind.STRIPE_SECRET_TEST,
        Kind.STRIPE_PUBLISHABLE_TEST,
        Kind.STRIPE_RESTRICTED_TEST,
        Kind.CLERK_SECRET_TEST,
        Kind.CLERK_PUBLISHABLE_TEST,
    }
)
LIVE_KINDS = frozenset(
    {
        Kind.STRIPE_SECRET_LIVE,
        Kind.STRIPE_PUBLISHABLE_LIVE,
        Kind.STRIPE_RESTRICTED_LIVE,
        Kind.CLERK_SECRET_LIVE,
        Kind.CLERK_PUBLISHABLE_LIVE,
    }
)
# Public by design: shipped to browsers, never a "shared secret" finding.
PUBLISHABLE_KINDS = frozenset(
    {
        Kind.STRIPE_PUBLISHABLE_LIVE,
        Kind.STRIPE_PUBLISHABLE_TEST,
        Kind.CLERK_PUBLISHABLE_LIVE,
        Kind.CLERK_PUBLISHABLE_TEST,
        Kind.SUPABASE_ANON_KEY,
        Kind.SUPABASE_PUBLISHABLE_KEY,
        Kind.POSTHOG_PROJECT_KEY,
        Kind.EMAIL,
    }
)
URL_KINDS = frozenset(
    {Kind.URL, Kind.CONVEX_URL, Kind.SUPABASE_URL, Kind.REDIS_URL, Kind.DATABASE_URL}
)

PUBLIC_PREFIXES = ("NEXT_PUBLIC_", "VITE_", "PUBLIC_", "EXPO_PUBLIC_", "REACT_APP_", "NUXT_PUBLIC_")


@dataclass(frozen=True)
class Verdict:
    """What :func:`classify` decided. ``detail`` is public shape only (a host, a deployment)."""

    kind: str
    secret: bool
    detail: str = ""
    reason: str = ""
    # Credential by the value's own shape: no operator choice or name makes it public.
    by_value: bool = False
    public_by_design: bool = False

    @property
    def label(self) -> str:
        return Kind(self.kind).label if self.kind in Kind.values else self.kind
