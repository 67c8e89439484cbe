"""Demo data for ``make run``: makalah.ai (prod still names the dev Convex deployment) and ConvoAI.

Secret values here are made up on the spot from a hash, fingerprinted by the import and then
forgotten: the portal only keeps fingerprints, kinds and hints.
"""

import base64
import hashlib
import json

from . import services
from .choices import Provider, Tier
from .models import Project


def _fake(*parts: str, n: int = 32) -> str:
    digest = hashlib.sha256("/".join(("opsportal-demo", *parts)).encode()).hexdigest()
    return (digest * 2)[:n]


def _jwt(role: str, ref: str) -> str:
    def seg(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return ".".join(
        [
            seg({"alg": "HS256", "typ": "JWT"}),
            seg({"iss": "supabase", "ref": ref, "role": role}),
            _fake(role, ref, n=43),
        ]
    )


def _clerk_pk(mode: str, host: str) -> str:
    return f"pk_{mode}_" + base64.b64encode(f"{host}$".encode()).decode().rstrip("=")


MAKALAH_DEV = {
    "CONVEX_DEPLOYMENT": "dev:wary-ferret-59",
    "NEXT_PUBLIC_CONVEX_URL": "https://wary-ferret-59.convex.cloud",
    "NEXT_PUBLIC_CONVEX_SITE_URL": "https://wary-ferret-59.convex.site",
    "CONVEX_DEPLOY_KEY": "dev:wary-ferret-59|" + _fake("makalah", "dev", "deploy", n=40),
    "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY": _clerk_pk("test", "sharing-crow-12.clerk.accounts.dev"),
    "CLERK_SECRET_KEY": "sk_test_" + _fake("makalah", "dev", "clerk"),
    "CLERK_WEBHOOK_SECRET": "whsec_" + _fake("makalah", "dev", "whsec"),
    "CSRF_SECRET": _fake("makalah", "shared", "csrf"),
    "SESSION_SECRET": _fake("makalah", "dev", "session"),
    "OPENAI_API_KEY": "sk-proj-" + _fake("makalah", "dev", "openai", n=40),
    "NEXT_PUBLIC_APP_URL": "http://localhost:3000",
    "NEXT_PUBLIC_SITE_NAME": "Makalah AI (dev)",
    "DEBUG_PROMPTS": "true",
}
MAKALAH_PROD = {
    "CONVEX_DEPLOYMENT": "prod:basic-oriole-337",
    # The mistake the team lived with for months: production still names the dev deployment.
    "NEXT_PUBLIC_CONVEX_URL": "https://wary-ferret-59.convex.cloud",
    "NEXT_PUBLIC_CONVEX_SITE_URL": "https://wary-ferret-59.convex.site",
    "CONVEX_DEPLOY_KEY": "prod:basic-oriole-337|" + _fake("makalah", "prod", "deploy", n=40),
    "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY": _clerk_pk("live", "clerk.makalah.ai"),
    "CLERK_SECRET_KEY": "sk_live_" + _fake("makalah", "prod", "clerk"),
    "CLERK_WEBHOOK_SECRET": "whsec_" + _fake("makalah", "prod", "whsec"),
    "CSRF_SECRET": _fake("makalah", "shared", "csrf"),
    "SESSION_SECRET": _fake("makalah", "prod", "session"),
    "OPENAI_API_KEY": "sk-proj-" + _fake("makalah", "prod", "openai", n=40),
    "NEXT_PUBLIC_APP_URL": "https://makalah.ai",
    "NEXT_PUBLIC_SITE_NAME": "Makalah AI",
}
MAKALAH_META = {
    "CONVEX_DEPLOYMENT": {"required": True, "description": "Convex deployment the CLI targets"},
    "NEXT_PUBLIC_CONVEX_URL": {"required": True, "description": "Convex client URL"},
    "CONVEX_DEPLOY_KEY": {"required": True, "owner": "platform", "source": "Infisical"},
    "CLERK_SECRET_KEY": {"required": True, "owner": "auth", "source": "Infisical"},
    "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY": {"required": True, "example": "pk_test_…"},
    "CLERK_WEBHOOK_SECRET": {"required": True, "source": "Infisical", "rotation_period_days": 180},
    "OPENAI_API_KEY": {"owner": "ai", "source": "Infisical", "rotation_period_days": 90},
}

CONVOAI = {
    "dev": {
        "NEXT_PUBLIC_API_URL": "http://localhost:8000",
        "NEXT_PUBLIC_SUPABASE_URL": "https://devconvoairef01.supabase.co",
        "NEXT_PUBLIC_SUPABASE_ANON_KEY": _jwt("anon", "devconvoairef01"),
        "SUPABASE_SERVICE_ROLE_KEY": _jwt("service_role", "devconvoairef01"),
        "DATABASE_URL": "postgresql://postgres:"
        + _fake("convo", "dev", "db", n=20)
        + "@db.devconvoairef01.supabase.co:5432/postgres",
        "UPSTASH_REDIS_URL": "rediss://default:"
        + _fake("convo", "dev", "redis", n=24)
        + "@dev-convoai.upstash.io:6379",
        "ANTHROPIC_API_KEY": "sk-ant-api03-" + _fake("convo", "dev", "anthropic", n=40),
        "JWT_SECRET": _fake("convo", "dev", "jwt", n=48),
    },
    "prod": {
        "NEXT_PUBLIC_API_URL": "https://convoai-api.onrender.com",
        "NEXT_PUBLIC_SUPABASE_URL": "https://prdconvoairef02.supabase.co",
        "NEXT_PUBLIC_SUPABASE_ANON_KEY": _jwt("anon", "prdconvoairef02"),
        "SUPABASE_SERVICE_ROLE_KEY": _jwt("service_role", "prdconvoairef02"),
        "DATABASE_URL": "postgresql://postgres:"
        + _fake("convo", "prod", "db", n=20)
        + "@db.prdconvoairef02.supabase.co:5432/postgres",
        "UPSTASH_REDIS_URL": "rediss://default:"
        + _fake("convo", "prod", "redis", n=24)
        + "@prod-convoai.upstash.io:6379",
        "ANTHROPIC_API_KEY": "sk-ant-api03-" + _fake("convo", "prod", "anthropic", n=40),
        "JWT_SECRET": _fake("convo", "prod", "jwt", n=48),
    },
}


def _dotenv(values: dict) -> str:
    return "\n".join(f'{k}="{v}"' for k, v in values.items()) + "\n"


def _settle(result, approver):
    """Production is protected from its creation: the demo's own changes to it are change
    requests, approved by the demo approver as a team would."""
    if result.change_request is not None and approver is not None:
        services.changerequest_approve(
            actor=approver, change_request=result.change_request, reason="demo data"
        )


def _environment(actor, project, name, tier, deployments, url="", branch="", approver=None):
    env = project.environments.filter(name=name).first()
    if env is None:
        env = services.environment_create(
            actor=actor, project=project, name=name, tier=tier, url=url, branch=branch
        )
    for provider, identifier, dep_url in deployments:
        if not env.deployments.filter(provider=provider, identifier=identifier).exists():
            result = services.deployment_add(
                actor=actor,
                environment=env,
                provider=provider,
                identifier=identifier,
                url=dep_url,
                reason="demo data",
            )
            _settle(result, approver)
    return env


def _fill(actor, env, values, meta, approver=None):
    plan = services.import_plan(environment=env, text=_dotenv(values), fmt="dotenv")
    if plan.has_changes:
        result = services.env_import_apply(
            actor=actor, environment=env, plan=plan, reason="demo data"
        )
        _settle(result, approver)
    for key, fields in meta.items():
        var = env.variables.filter(key=key).first()
        if var is not None and any(getattr(var, f) != v for f, v in fields.items()):
            result = services.configvar_save(
                actor=actor, environment=env, key=key, reason="demo data", **fields
            )
            _settle(result, approver)


def load(*, users: dict, stdout) -> None:
    operator, approver = users["operator"], users.get("approver")
    makalah = Project.objects.filter(slug="makalah-ai").first() or services.project_create(
        actor=operator,
        name="makalah.ai",
        slug="makalah-ai",
        description="Academic writing assistant (Next.js on Vercel, Convex, Clerk).",
    )
    dev = _environment(
        operator,
        makalah,
        "dev",
        Tier.DEVELOPMENT,
        [(Provider.CONVEX, "dev:wary-ferret-59", "https://wary-ferret-59.convex.cloud")],
        url="http://localhost:3000",
        branch="dev",
    )
    prod = _environment(
        operator,
        makalah,
        "prod",
        Tier.PRODUCTION,
        [
            (Provider.CONVEX, "prod:basic-oriole-337", "https://basic-oriole-337.convex.cloud"),
            (Provider.VERCEL, "makalah-ai", "https://makalah.ai"),
        ],
        url="https://makalah.ai",
        branch="main",
        approver=approver,
    )
    if not prod.variables.exists():
        _fill(operator, dev, MAKALAH_DEV, MAKALAH_META)
        _fill(operator, prod, MAKALAH_PROD, MAKALAH_META, approver)
        # A fix waiting for a second person: point production at its own deployment.
        fix = MAKALAH_PROD | {
            "NEXT_PUBLIC_CONVEX_URL": "https://basic-oriole-337.convex.cloud",
            "NEXT_PUBLIC_CONVEX_SITE_URL": "https://basic-oriole-337.convex.site",
        }
        plan = services.import_plan(environment=prod, text=_dotenv(fix), fmt="dotenv")
        services.env_import_apply(
            actor=operator,
            environment=prod,
            plan=plan,
            reason="Production must use prod:basic-oriole-337, not the dev deployment",
        )

    convo = Project.objects.filter(slug="convoai").first() or services.project_create(
        actor=operator,
        name="ConvoAI",
        slug="convoai",
        description="Conversational agent: Vercel web, Render API, Supabase, Upstash Redis.",
    )
    convo_dev = _environment(
        operator,
        convo,
        "dev",
        Tier.DEVELOPMENT,
        [
            (Provider.SUPABASE, "devconvoairef01", "https://devconvoairef01.supabase.co"),
            (Provider.UPSTASH, "dev-convoai", ""),
        ],
    )
    convo_prod = _environment(
        operator,
        convo,
        "prod",
        Tier.PRODUCTION,
        [
            (Provider.VERCEL, "convoai-web", "https://convoai.vercel.app"),
            (Provider.RENDER, "srv-convoai-api", "https://convoai-api.onrender.com"),
            (Provider.SUPABASE, "prdconvoairef02", "https://prdconvoairef02.supabase.co"),
            (Provider.UPSTASH, "prod-convoai", ""),
        ],
        url="https://convoai.vercel.app",
        branch="main",
        approver=approver,
    )
    if not convo_prod.variables.exists():
        meta = {
            "DATABASE_URL": {"required": True, "owner": "backend", "source": "Doppler"},
            "SUPABASE_SERVICE_ROLE_KEY": {"required": True, "source": "Doppler"},
            "JWT_SECRET": {"required": True, "rotation_period_days": 90},
            "ANTHROPIC_API_KEY": {"owner": "ai", "rotation_period_days": 90},
        }
        _fill(operator, convo_dev, CONVOAI["dev"], meta)
        _fill(operator, convo_prod, CONVOAI["prod"], meta, approver)
    stdout.write("environments: makalah.ai (dev, prod) and ConvoAI (dev, prod) loaded")
