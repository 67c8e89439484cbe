from django.db import models


class Tier(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    PREVIEW = "preview", "Preview"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class Provider(models.TextChoices):
    VERCEL = "vercel", "Vercel"
    CONVEX = "convex", "Convex"
    RENDER = "render", "Render"
    SUPABASE = "supabase", "Supabase"
    UPSTASH = "upstash", "Upstash"
    OTHER = "other", "Other"


class ValueKind(models.TextChoices):
    """What a value looks like; stored for secrets instead of the value itself."""

    EMPTY = "empty", "Empty"
    STRIPE_SECRET_LIVE = "stripe_secret_live", "Stripe secret key (live)"
    STRIPE_SECRET_TEST = "stripe_secret_test", "Stripe secret key (test)"
    STRIPE_PUBLISHABLE_LIVE = "stripe_publishable_live", "Stripe publishable key (live)"
    STRIPE_PUBLISHABLE_TEST = "stripe_publishable_test", "Stripe publishable key (test)"
    STRIPE_RESTRICTED_LIVE = "stripe_restricted_live", "Stripe restricted key (live)"
    STRIPE_RESTRICTED_TEST = "stripe_restricted_test", "Stripe restricted key (test)"
    STRIPE_WEBHOOK_SECRET = "stripe_webhook_secret", "Webhook signing secret (whsec_)"
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
    REDIS_URL = "redis_url", "Redis URL"
    DATABASE_URL = "database_url", "Database URL"
    OPENAI_KEY = "openai_key", "OpenAI API key"
    ANTHROPIC_KEY = "anthropic_key", "Anthropic API key"
    JWT = "jwt", "JWT"
    URL = "url", "URL"
    RANDOM = "random", "Random string"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Boolean"
    TEXT = "text", "Text"


class ChangeRequestStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPLIED = "applied", "Approved and applied"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ChangeKind(models.TextChoices):
    SETTINGS = "settings", "Environment settings"
    VARIABLES = "variables", "Variables"
    IMPORT = "import", "Import"
    ROTATION = "rotation", "Rotation"


class Severity(models.TextChoices):
    ERROR = "error", "Error"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"
