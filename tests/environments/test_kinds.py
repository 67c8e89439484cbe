import base64

import pytest

from environments.choices import ValueKind
from environments.kinds import classify, deployment_names, describe, suggest_secret

CLERK_PK = "pk_test_" + base64.b64encode(b"sharing-crow-12.clerk.accounts.dev$").decode().rstrip(
    "="
)
ANON_JWT = (
    "eyJhbGciOiJIUzI1NiJ9."
    + base64.urlsafe_b64encode(b'{"role":"anon","ref":"abc"}').decode().rstrip("=")
    + ".c2lnbmF0dXJlc2lnbmF0dXJl"
)
SERVICE_JWT = (
    "eyJhbGciOiJIUzI1NiJ9."
    + base64.urlsafe_b64encode(b'{"role":"service_role","ref":"abc"}').decode().rstrip("=")
    + ".c2lnbmF0dXJlc2lnbmF0dXJl"
)


@pytest.mark.parametrize(
    ("key", "value", "kind", "secret"),
    [
        ("STRIPE_SECRET_KEY", "sk_live_abcdefghijkl", ValueKind.STRIPE_SECRET_LIVE, True),
        ("STRIPE_SECRET_KEY", "sk_test_abcdefghijkl", ValueKind.STRIPE_SECRET_TEST, True),
        (
            "NEXT_PUBLIC_STRIPE_KEY",
            "pk_live_abcdefghijkl",
            ValueKind.STRIPE_PUBLISHABLE_LIVE,
            False,
        ),
        ("STRIPE_PK", "pk_test_abcdefghijkl", ValueKind.STRIPE_PUBLISHABLE_TEST, False),
        ("STRIPE_RK", "rk_live_abcdefghijkl", ValueKind.STRIPE_RESTRICTED_LIVE, True),
        ("STRIPE_WEBHOOK_SECRET", "whsec_abcdefghijkl", ValueKind.STRIPE_WEBHOOK_SECRET, True),
        ("CLERK_SECRET_KEY", "sk_live_abcdefghijkl", ValueKind.CLERK_SECRET_LIVE, True),
        ("NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY", CLERK_PK, ValueKind.CLERK_PUBLISHABLE_TEST, False),
        ("AUTH_PK", CLERK_PK, ValueKind.CLERK_PUBLISHABLE_TEST, False),
        ("CONVEX_DEPLOYMENT", "dev:wary-ferret-59", ValueKind.CONVEX_DEPLOYMENT, False),
        (
            "CONVEX_DEPLOY_KEY",
            "prod:basic-oriole-337|abcdef0123",
            ValueKind.CONVEX_DEPLOY_KEY,
            True,
        ),
        (
            "NEXT_PUBLIC_CONVEX_URL",
            "https://wary-ferret-59.convex.cloud",
            ValueKind.CONVEX_URL,
            False,
        ),
        ("CONVEX_SITE_URL", "https://wary-ferret-59.convex.site", ValueKind.CONVEX_URL, False),
        ("NEXT_PUBLIC_SUPABASE_URL", "https://abc.supabase.co", ValueKind.SUPABASE_URL, False),
        ("NEXT_PUBLIC_SUPABASE_ANON_KEY", ANON_JWT, ValueKind.SUPABASE_ANON_KEY, False),
        ("SUPABASE_SERVICE_ROLE_KEY", SERVICE_JWT, ValueKind.SUPABASE_SERVICE_KEY, True),
        ("REDIS_URL", "rediss://default:pw123456@x.upstash.io:6379", ValueKind.REDIS_URL, True),
        ("CACHE", "redis://localhost:6379/0", ValueKind.REDIS_URL, False),
        ("OPENAI_API_KEY", "sk-proj-abcdefghijklmnopqrstu", ValueKind.OPENAI_KEY, True),
        ("ANTHROPIC_API_KEY", "sk-ant-api03-abcdefghijkl", ValueKind.ANTHROPIC_KEY, True),
        ("SOME_TOKEN", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", ValueKind.JWT, True),
        ("APP_URL", "https://example.com/path", ValueKind.URL, False),
        ("CSRF_SECRET", "Zk3q9XvB7pLm2RtY8wNc", ValueKind.RANDOM, True),
        ("FEATURE_X", "true", ValueKind.BOOLEAN, False),
        ("PORT", "8080", ValueKind.NUMBER, False),
        ("SITE_NAME", "Makalah AI", ValueKind.TEXT, False),
        ("SESSION_PASSWORD", "hello", ValueKind.TEXT, True),
        ("NEXT_PUBLIC_LEAKED", "sk_live_abcdefghijkl", ValueKind.STRIPE_SECRET_LIVE, True),
    ],
)
def test_kind_and_secret_suggestion(key, value, kind, secret):
    assert classify(key, value)[0] == kind
    assert suggest_secret(key, value) is secret


def test_url_keeps_the_host_only():
    kind, credential, detail = classify(
        "DATABASE_URL", "postgres://u:hunter2hunter2@db.example.com/x"
    )
    assert (kind, credential, detail) == (ValueKind.DATABASE_URL, True, "db.example.com")


def test_describe_hint_is_at_most_four_characters(settings):
    info = describe("CLERK_SECRET_KEY", "sk_live_abcdefghijkl")
    assert info.hint == "…ijkl"
    assert len(info.fingerprint) == 64
    assert describe("X_SECRET", "short").hint == ""


def test_deployment_names():
    assert deployment_names("dev:wary-ferret-59", "https://wary-ferret-59.convex.cloud") == {
        "wary-ferret-59",
        "wary-ferret-59.convex.cloud",
    }


@pytest.mark.parametrize(
    ("haystack", "found"),
    [
        ("https://wary-ferret-59.convex.cloud", True),
        ("dev:wary-ferret-59", True),
        ("https://wary-ferret-590.convex.cloud", False),
        ("https://not-wary-ferret-59.convex.cloud", False),
        ("WARY-FERRET-59", True),
    ],
)
def test_mentions_whole_names_only(haystack, found):
    from environments.kinds import mentions

    assert mentions(haystack, "wary-ferret-59") is found
