"""The one secret classifier: is this a credential, judged from the name and the value together.

Every place that decides whether text may be kept in the clear asks this module: the env
importer and the inventory (:func:`classify`), the masking of free text and of audit rows
(:func:`find_credentials`, used by ``opsportal.audit.masking.scrub_text``) and the exports.

Order of the verdict (first match wins):

1. empty, or only a reference to another variable (``${OTHER}``): not a credential;
2. the value has a provider's credential format (Stripe ``sk_live_``, ``whsec_``, Convex deploy
   keys, Supabase ``sb_secret_``, GitHub, AWS, Google, OpenAI/Anthropic, Resend, SendGrid, Slack,
   PEM private keys, non-anon JWTs…), or is a URL carrying one (a password or a key in its
   userinfo, a token in its query string, a webhook or heartbeat URL whose path is the token):
   a credential whatever the name says — ``NEXT_PUBLIC_X=sk_live_…`` is still a secret;
3. the value is public by design (Stripe/Clerk ``pk_``, ``sb_publishable_``, the Supabase anon
   JWT, PostHog project keys, an e-mail address): never a secret, whatever the name;
4. the name says public (``NEXT_PUBLIC_*``, ``VITE_*``, ``*_PUBLISHABLE_KEY``…): not a secret;
5. the name says credential (``*_SECRET``, ``*_TOKEN``, ``*_KEY``, ``*_PASSWORD``, ``*_DSN``,
   ``*WEBHOOK*``, ``DATABASE_URL``…) or the value is a long high-entropy random string: secret;
6. otherwise (plain URLs, numbers, booleans, UUIDs, text): not a secret.

Why hand-written rather than ``detect-secrets``: its plugins answer "is there a secret on this
line" for source code, with a baseline file and global settings; the inventory needs the *kind*
(Stripe live vs test, which Convex deployment a key names, a Supabase JWT's role) and public
detail it may keep, and must also say when a value is public by design. The token formats below
follow the providers' documented prefixes.
"""

from .kinds import (
    LIVE_KINDS,
    PUBLIC_PREFIXES,
    PUBLISHABLE_KINDS,
    TEST_KINDS,
    URL_KINDS,
    Kind,
    Verdict,
)
from .names import credential_name_reason, is_credential_name, is_public_name, name_words
from .text import find_credentials, mask_text
from .values import (
    CONVEX_DEPLOY_KEY,
    CONVEX_HOST,
    CONVEX_NAME,
    classify,
    classify_value,
    is_credential,
    looks_random,
)

__all__ = [
    "CONVEX_DEPLOY_KEY",
    "CONVEX_HOST",
    "CONVEX_NAME",
    "LIVE_KINDS",
    "PUBLIC_PREFIXES",
    "PUBLISHABLE_KINDS",
    "TEST_KINDS",
    "URL_KINDS",
    "Kind",
    "Verdict",
    "classify",
    "classify_value",
    "credential_name_reason",
    "find_credentials",
    "is_credential",
    "is_credential_name",
    "is_public_name",
    "looks_random",
    "mask_text",
    "name_words",
]
