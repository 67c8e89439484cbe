"""Tool bookkeeping: variables a platform or tool adds about itself, not the app's configuration.

``vercel env pull`` writes Vercel's system variables (``VERCEL_ENV``, ``VERCEL_URL``,
``VERCEL_GIT_*``, ``VERCEL_OIDC_TOKEN`` ...) and the build settings it injects (``TURBO_*``,
``NX_DAEMON``); Doppler's downloads add ``DOPPLER_PROJECT`` / ``DOPPLER_CONFIG`` /
``DOPPLER_ENVIRONMENT``; Infisical's CLI is configured by ``INFISICAL_*``; Render sets
``RENDER_*`` at run time. They are skipped (and listed as such) unless the import keeps them.

Credentials that let an app reach its secret manager (``DOPPLER_TOKEN``, ``INFISICAL_TOKEN``,
``INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET``) and variables a team names itself
(``VERCEL_API_TOKEN``) are configuration: they stay.
"""

import re

from opsportal.audit.masking import is_secret_name

_VERCEL_SYSTEM = (
    r"VERCEL|VERCEL_ENV|VERCEL_TARGET_ENV|VERCEL_URL|VERCEL_BRANCH_URL"
    r"|VERCEL_PROJECT_PRODUCTION_URL|VERCEL_REGION|VERCEL_DEPLOYMENT_ID|VERCEL_PROJECT_ID"
    r"|VERCEL_SKEW_PROTECTION_ENABLED|VERCEL_AUTOMATION_BYPASS_SECRET|VERCEL_OIDC_TOKEN"
    r"|VERCEL_ANALYTICS_ID|VERCEL_SPEED_INSIGHTS_ID|VERCEL_GIT_[A-Z0-9_]+"
)
# Frameworks' public copies of the same system variables (NEXT_PUBLIC_VERCEL_URL ...).
_FRAMEWORK_PREFIX = (
    r"(?:NEXT_PUBLIC_|VITE_|REACT_APP_|NUXT_ENV_|NUXT_PUBLIC_|GATSBY_|PUBLIC_|VUE_APP_"
    r"|EXPO_PUBLIC_|SANITY_STUDIO_|REDWOOD_ENV_)?"
)
_RULES = (
    (re.compile(rf"^{_FRAMEWORK_PREFIX}(?:{_VERCEL_SYSTEM})$"), "a Vercel system variable"),
    (re.compile(r"^TURBO_[A-Z0-9_]+$"), "a Turborepo setting Vercel injects"),
    (re.compile(r"^NX_DAEMON$"), "an Nx setting Vercel injects"),
    (
        re.compile(r"^DOPPLER_(?:PROJECT|CONFIG|ENVIRONMENT)$"),
        "Doppler's own context, added to its downloads",
    ),
    (re.compile(r"^INFISICAL_[A-Z0-9_]+$"), "a setting of the Infisical CLI"),
    (
        re.compile(
            r"^(?:RENDER|IS_PULL_REQUEST|RENDER_(?:SERVICE_ID|SERVICE_NAME|SERVICE_TYPE"
            r"|EXTERNAL_URL|EXTERNAL_HOSTNAME|INSTANCE_ID|GIT_COMMIT|GIT_BRANCH|GIT_REPO_SLUG"
            r"|DISCOVERY_SERVICE|CPU_COUNT))$"
        ),
        "a variable Render sets at run time",
    ),
)


def bookkeeping_reason(key: str) -> str | None:
    """Why ``key`` is tool bookkeeping, or None when it is the app's configuration."""
    for pattern, reason in _RULES:
        if pattern.match(key):
            if reason.startswith("a setting of the Infisical") and is_secret_name(key):
                return None
            return reason
    return None
