"""The classifier against a corpus of realistic name/value pairs.

Values are generated per seed (random tokens of each provider's shape), so the verdicts hold for
the format, not for one spelling.
"""

import base64
import json
import random
import string

import pytest

from opsportal.audit.masking import scrub_text
from opsportal.credentials import Kind, classify

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def tok(rng, n, alphabet=ALNUM):
    return "".join(rng.choice(alphabet) for _ in range(n))


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def jwt(rng, claims):
    head = b64url({"alg": "HS256", "typ": "JWT"})
    return f"{head}.{b64url(claims)}.{tok(rng, 43, ALNUM + '-_')}"


def clerk_pk(rng, live):
    host = f"{tok(rng, 8, string.ascii_lowercase)}.clerk.accounts.dev$"
    return f"pk_{'live' if live else 'test'}_" + base64.b64encode(host.encode()).decode().rstrip(
        "="
    )


def corpus(rng) -> list[tuple[str, str, bool, str | None]]:
    """(name, value, secret, kind or None when any kind will do)."""
    words = string.ascii_lowercase
    ref = tok(rng, 20, string.ascii_lowercase)
    convex = f"{tok(rng, 6, words)}-{tok(rng, 6, words)}-{rng.randint(10, 999)}"
    return [
        # --- credentials by value, whatever the name ------------------------------------
        ("STRIPE_SECRET_KEY", "sk_live_" + tok(rng, 99), True, Kind.STRIPE_SECRET_LIVE),
        ("STRIPE_KEY", "sk_test_" + tok(rng, 24), True, Kind.STRIPE_SECRET_TEST),
        ("NEXT_PUBLIC_STRIPE", "sk_live_" + tok(rng, 24), True, Kind.STRIPE_SECRET_LIVE),
        ("STRIPE_RESTRICTED", "rk_live_" + tok(rng, 24), True, Kind.STRIPE_RESTRICTED_LIVE),
        ("STRIPE_WEBHOOK_SECRET", "whsec_" + tok(rng, 32), True, Kind.STRIPE_WEBHOOK_SECRET),
        (
            "CLERK_WEBHOOK_SECRET",
            "whsec_" + tok(rng, 32, ALNUM + "+/"),
            True,
            Kind.CLERK_WEBHOOK_SECRET,
        ),
        ("HOOK_SIGNING", "whsec_" + tok(rng, 32), True, Kind.WEBHOOK_SECRET),
        ("CLERK_SECRET_KEY", "sk_live_" + tok(rng, 40), True, Kind.CLERK_SECRET_LIVE),
        (
            "CONVEX_DEPLOY_KEY",
            f"prod:{convex}|" + tok(rng, 60, ALNUM + "="),
            True,
            Kind.CONVEX_DEPLOY_KEY,
        ),
        (
            "CONVEX_DEPLOY_KEY",
            f"preview:team-{tok(rng, 5, words)}:app|" + tok(rng, 60),
            True,
            Kind.CONVEX_DEPLOY_KEY,
        ),
        ("SUPABASE_SECRET_KEY", "sb_secret_" + tok(rng, 32), True, Kind.SUPABASE_SECRET_KEY),
        (
            "SUPABASE_SERVICE_ROLE_KEY",
            jwt(rng, {"iss": "supabase", "ref": ref, "role": "service_role"}),
            True,
            Kind.SUPABASE_SERVICE_KEY,
        ),
        ("GITHUB_TOKEN", "ghp_" + tok(rng, 36), True, Kind.GITHUB_TOKEN),
        ("GH_PAT", "github_pat_" + tok(rng, 22) + "_" + tok(rng, 59), True, Kind.GITHUB_TOKEN),
        (
            "AWS_ACCESS_KEY_ID",
            "AKIA" + tok(rng, 16, string.ascii_uppercase + string.digits),
            True,
            Kind.AWS_ACCESS_KEY,
        ),
        ("AWS_SECRET_ACCESS_KEY", tok(rng, 40, ALNUM + "/+"), True, None),
        ("GOOGLE_MAPS", "AIza" + tok(rng, 35, ALNUM + "-_"), True, Kind.GOOGLE_API_KEY),
        ("OPENAI_API_KEY", "sk-proj-" + tok(rng, 48, ALNUM + "-_"), True, Kind.OPENAI_KEY),
        ("ANTHROPIC_API_KEY", "sk-ant-api03-" + tok(rng, 80, ALNUM + "-_"), True, None),
        (
            "RESEND_API_KEY",
            "re_" + tok(rng, 8) + "_" + tok(rng, 24),
            True,
            Kind.RESEND_KEY,
        ),
        (
            "SENDGRID_API_KEY",
            "SG." + tok(rng, 22, ALNUM + "-_") + "." + tok(rng, 43, ALNUM + "-_"),
            True,
            Kind.SENDGRID_KEY,
        ),
        ("TWILIO_API_KEY", "SK" + tok(rng, 32, HEX), True, Kind.TWILIO_KEY),
        ("TWILIO_AUTH_TOKEN", tok(rng, 32, HEX), True, None),
        ("SLACK_BOT_TOKEN", f"xoxb-{rng.randint(10**10, 10**11)}-" + tok(rng, 24), True, None),
        (
            "POSTHOG_PERSONAL_API_KEY",
            "phx_" + tok(rng, 40),
            True,
            Kind.POSTHOG_PERSONAL_KEY,
        ),
        (
            "JWT_PRIVATE_KEY",
            "-----BEGIN PRIVATE KEY-----\\nMIIE" + tok(rng, 60) + "\\n-----END PRIVATE KEY-----",
            True,
            Kind.PRIVATE_KEY,
        ),
        ("SOME_JWT", jwt(rng, {"sub": tok(rng, 8)}), True, Kind.JWT),
        # --- URLs that carry a credential --------------------------------------------
        (
            "SLACK_WEBHOOK_URL",
            f"https://hooks.slack.com/services/T{tok(rng, 8, string.ascii_uppercase)}/"
            f"B{tok(rng, 10, string.ascii_uppercase)}/{tok(rng, 24)}",
            True,
            Kind.SLACK_WEBHOOK,
        ),
        (
            "ALERTS",
            f"https://discord.com/api/webhooks/{rng.randint(10**17, 10**18)}/"
            + tok(rng, 68, ALNUM + "-_"),
            True,
            Kind.DISCORD_WEBHOOK,
        ),
        (
            "NOTIFY_URL",
            f"https://api.telegram.org/bot{rng.randint(10**8, 10**9)}:AA{tok(rng, 33)}/sendMessage",
            True,
            Kind.TELEGRAM_BOT,
        ),
        (
            "TEAMS_URL",
            f"https://acme.webhook.office.com/webhookb2/{tok(rng, 8, HEX)}@{tok(rng, 8, HEX)}/"
            f"IncomingWebhook/{tok(rng, 32, HEX)}/{tok(rng, 8, HEX)}",
            True,
            Kind.TEAMS_WEBHOOK,
        ),
        (
            "STATUS_HOOK",
            f"https://api.example.com/webhooks/{rng.randint(1, 999)}/{tok(rng, 40)}",
            True,
            Kind.WEBHOOK_URL,
        ),
        (
            "CRON_HEARTBEAT",
            f"https://hc-ping.com/{tok(rng, 8, HEX)}-{tok(rng, 4, HEX)}-4{tok(rng, 3, HEX)}-"
            f"a{tok(rng, 3, HEX)}-{tok(rng, 12, HEX)}",
            True,
            Kind.WEBHOOK_URL,
        ),
        (
            "SENTRY_DSN",
            f"https://{tok(rng, 32, HEX)}@o{rng.randint(1000, 99999)}.ingest.sentry.io/"
            f"{rng.randint(1000, 99999)}",
            True,
            Kind.SENTRY_DSN,
        ),
        (
            "NEXT_PUBLIC_SENTRY_DSN",
            f"https://{tok(rng, 32, HEX)}@o{rng.randint(1000, 99999)}.ingest.us.sentry.io/1",
            True,
            Kind.SENTRY_DSN,
        ),
        ("DISCORD_WEBHOOK_SECRET", "https://discord.com/api/webhooks/1/x", True, None),
        (
            "DATABASE_URL",
            f"postgres://app:{tok(rng, 20)}@db.{tok(rng, 6, words)}.example.com:5432/app",
            True,
            Kind.DATABASE_URL,
        ),
        (
            "CACHE",
            f"rediss://default:{tok(rng, 30)}@{tok(rng, 8, words)}.upstash.io:6379",
            True,
            Kind.REDIS_URL,
        ),
        (
            "INTERNAL_API",
            f"https://svc:{tok(rng, 14)}@api.example.com/v1",
            True,
            Kind.URL_WITH_CREDENTIALS,
        ),
        (
            "FEED_URL",
            f"https://feeds.example.com/export.csv?token={tok(rng, 24)}",
            True,
            Kind.URL_WITH_CREDENTIALS,
        ),
        (
            "SIGNED",
            f"https://cdn.example.com/a.png?X-Amz-Signature={tok(rng, 64, HEX)}",
            True,
            None,
        ),
        (
            "PUBLIC_MAP_URL",
            f"https://maps.example.com/tiles?key={tok(rng, 30)}",
            True,
            Kind.URL_WITH_CREDENTIALS,
        ),
        # --- high-entropy random strings under names that say nothing ------------------
        ("BUILD_NONCE", tok(rng, 40), True, Kind.RANDOM),
        ("INSTANCE_SEED", tok(rng, 32, HEX), True, Kind.RANDOM),
        ("UPSTREAM", tok(rng, 48, ALNUM + "-_"), True, Kind.RANDOM),
        # --- credentials by name -----------------------------------------------------
        ("SESSION_SECRET", tok(rng, 32, HEX), True, None),
        ("CSRF_SECRET", tok(rng, 12), True, None),
        ("SMTP_PASSWORD", "hunter2 #9xQ!", True, None),
        ("DB_PASS", "correct horse", True, None),
        ("ADMIN_TOKEN", "letmein", True, None),
        ("INTERNAL_API_KEY", "abc", True, None),
        ("GOOGLE_APPLICATION_CREDENTIALS", '{"type": "service_account"}', True, None),
        ("REDIS_URL", "redis://localhost:6379", True, Kind.REDIS_URL),
        ("POSTGRES_PRISMA_URL", "postgres://localhost/app", True, Kind.DATABASE_URL),
        ("APP_PRIVATE_PEM_PATH", "/etc/keys/app.pem", True, None),
        ("basicAuth", "admin:admin", True, None),
        # --- public by design ---------------------------------------------------------
        ("NEXT_PUBLIC_STRIPE_KEY", "pk_live_" + tok(rng, 99), False, Kind.STRIPE_PUBLISHABLE_LIVE),
        ("STRIPE_PUBLISHABLE_KEY", "pk_test_" + tok(rng, 99), False, None),
        ("CLERK_PUBLISHABLE_KEY", clerk_pk(rng, True), False, Kind.CLERK_PUBLISHABLE_LIVE),
        ("CLERK_KEY", clerk_pk(rng, False), False, Kind.CLERK_PUBLISHABLE_TEST),
        (
            "SUPABASE_KEY",
            "sb_publishable_" + tok(rng, 32),
            False,
            Kind.SUPABASE_PUBLISHABLE_KEY,
        ),
        (
            "SUPABASE_ANON_KEY",
            jwt(rng, {"iss": "supabase", "ref": ref, "role": "anon"}),
            False,
            Kind.SUPABASE_ANON_KEY,
        ),
        ("POSTHOG_KEY", "phc_" + tok(rng, 43), False, Kind.POSTHOG_PROJECT_KEY),
        ("SUPPORT_EMAIL", f"{tok(rng, 6, words)}@example.com", False, Kind.EMAIL),
        ("EMAIL_FROM", f"ops+{tok(rng, 4, words)}@mail.example.co.id", False, Kind.EMAIL),
        ("NEXT_PUBLIC_APP_SECRET_SAUCE", "blue", False, None),
        ("VITE_API_BASE", "https://api.example.com", False, Kind.URL),
        ("PUBLIC_VAPID_KEY", "B" + tok(rng, 86, ALNUM + "-_"), False, None),
        # --- plain configuration ----------------------------------------------------------
        ("API_URL", "https://api.example.com", False, Kind.URL),
        ("NEXTAUTH_URL", "https://app.example.com/auth", False, Kind.URL),
        ("NEXT_PUBLIC_CONVEX_URL", f"https://{convex}.convex.cloud", False, Kind.CONVEX_URL),
        ("CONVEX_DEPLOYMENT", f"dev:{convex}", False, Kind.CONVEX_DEPLOYMENT),
        ("NEXT_PUBLIC_SUPABASE_URL", f"https://{ref}.supabase.co", False, Kind.SUPABASE_URL),
        ("FEATURE_FLAGS", "true", False, Kind.BOOLEAN),
        ("MAX_UPLOAD_MB", "25", False, Kind.NUMBER),
        ("OPENAI_MAX_TOKENS", "4096", False, Kind.NUMBER),
        (
            "PROJECT_ID",
            f"{tok(rng, 8, HEX)}-{tok(rng, 4, HEX)}-4{tok(rng, 3, HEX)}-8{tok(rng, 3, HEX)}-"
            f"{tok(rng, 12, HEX)}",
            False,
            Kind.UUID,
        ),
        ("DATABASE_PASSWORD_REF", "${POSTGRES_PASSWORD}", False, Kind.REFERENCE),
        ("DATABASE_URL", "${DATABASE_URL_POOLED}", False, Kind.REFERENCE),
        ("SITE_TAGLINE", "It's live", False, Kind.TEXT),
        ("NODE_ENV", "production", False, Kind.TEXT),
        ("TZ", "Asia/Jakarta", False, Kind.TEXT),
        ("EMPTY", "", False, Kind.EMPTY),
        ("TOKEN_TTL_SECONDS", "3600", True, Kind.NUMBER),  # by name: the operator may say public
    ]


@pytest.mark.parametrize("seed", [1, 7, 2026])
def test_corpus_verdicts(seed):
    rng = random.Random(seed)
    cases = corpus(rng)
    assert len(cases) >= 60
    wrong = []
    for name, value, secret, kind in cases:
        verdict = classify(name, value)
        if verdict.secret != secret or (kind is not None and verdict.kind != kind):
            wrong.append(f"{name}: got {verdict.kind}/{verdict.secret}, want {kind}/{secret}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("seed", [3, 11])
def test_every_credential_value_is_masked_in_free_text(seed):
    """The same formats, pasted into a note, are masked; public ones are left alone."""
    rng = random.Random(seed)
    for name, value, _secret, _kind in corpus(rng):
        verdict = classify(name, value)
        if not verdict.by_value or verdict.kind == Kind.RANDOM:
            continue  # a random string is a credential by its name: text masks NAME=value
        note = f"Rotated after the incident, old value was {value} (see ticket)."
        masked = scrub_text(note)
        assert value not in masked, name
        assert "Rotated after the incident" in masked
    for public in ("https://api.example.com/v1/status", "ops@example.com", "dev:wary-ferret-59"):
        assert scrub_text(f"checked {public} ok") == f"checked {public} ok"


@pytest.mark.parametrize("seed", [5, 13])
def test_assignments_in_free_text_are_masked_by_name(seed):
    rng = random.Random(seed)
    secret = tok(rng, 32, HEX)
    for text in (
        f"SESSION_SECRET={secret}",
        f'export SESSION_SECRET="{secret}"',
        f'{{"session_secret": "{secret}"}}',
        f"session secret -> SESSION_SECRET: {secret}",
    ):
        assert secret not in scrub_text(text), text
    assert scrub_text("NODE_ENV=production") == "NODE_ENV=production"


def test_masking_keeps_a_url_readable():
    text = "failed: https://svc:pa55word-xyz@api.example.com/v1/items?page=2&token=abc123def"
    masked = scrub_text(text)
    assert "pa55word" not in masked and "abc123def" not in masked
    assert "api.example.com/v1/items" in masked and "page=2" in masked
    assert scrub_text(masked) == masked  # idempotent: masking a masked note changes nothing


def test_operator_public_choice_cannot_keep_a_credential_in_the_clear():
    from environments.payloads import value_state

    state = value_state(
        "DATABASE_URL", "postgres://u:pw-very-secret@db.example.com/app", is_secret=False
    )
    assert state["is_secret"] is True and state["value"] == ""
    assert "password" in state["forced"]
    plain = value_state("REDIS_URL", "redis://localhost:6379", is_secret=False)
    assert plain["is_secret"] is False and plain["value"] == "redis://localhost:6379"


@pytest.mark.django_db
def test_public_by_design_values_in_two_tiers_are_no_shared_secret_finding():
    """The same publishable key, anon key or PostHog key in dev and production is public by
    design: stored in the clear and never a "shared secret across tiers" error."""
    from environments import hygiene
    from environments.choices import Tier
    from tests.environments.factories import ConfigVarFactory
    from tests.factories import EnvironmentFactory, ProjectFactory

    rng = random.Random(17)
    ref = tok(rng, 20, string.ascii_lowercase)
    values = {
        "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY": "pk_test_" + tok(rng, 99),
        "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY": clerk_pk(rng, False),
        "SUPABASE_KEY": "sb_publishable_" + tok(rng, 32),
        "SUPABASE_ANON_KEY": jwt(rng, {"iss": "supabase", "ref": ref, "role": "anon"}),
        "POSTHOG_KEY": "phc_" + tok(rng, 43),
        "SUPPORT_EMAIL": "ops@example.com",
        "API_URL": "https://api.example.com",
    }
    project = ProjectFactory()
    envs = [
        EnvironmentFactory(project=project, name="dev", tier=Tier.DEVELOPMENT),
        EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION),
    ]
    for env in envs:
        for key, value in values.items():
            var = ConfigVarFactory(environment=env, key=key, raw=value)
            assert not var.is_secret and var.value == value, key
    found = [f for env in envs for f in hygiene.check_environment(env)]
    assert not [f for f in found if f.rule == "shared_secret_across_tiers"], found


@pytest.mark.parametrize("seed", [19, 23])
def test_name_space_value_lines_are_masked_by_name(seed):
    """``NAME value`` on a line of its own (a variable typed without its ``=``, also inside a
    multi-line value a reader continued over it): masked when the name says credential."""
    rng = random.Random(seed)
    password = "hunter2-" + tok(rng, 10)
    for text in (
        f"DB_PASSWORD {password}",
        f"NODE_ENV production\r\nDB_PASSWORD {password}\r\n",
        f"  STRIPE_SECRET_KEY   {password}\nother line",
    ):
        assert password not in scrub_text(text), text
    verdict = classify("GREETING", f"1\nDB_PASSWORD {password}\nexport")
    assert verdict.secret and verdict.by_value
    for text in ("NODE_ENV production", "rotate the API_TOKEN today", "DB_PASSWORD ${PG_PASS}"):
        assert scrub_text(text) == text
