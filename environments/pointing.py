"""What an environment points at: the provider deployments its variables name.

An environment names a deployment in several ways, and only some of them are registered as a
:class:`~environments.models.ProviderDeployment`:

- ``CONVEX_DEPLOYMENT=dev:wary-ferret-59`` (as ``npx convex dev`` writes it, possibly followed by
  ``# team: …, project: …``; legacy values have no ``dev:``/``prod:`` prefix);
- a Convex deploy key ``prod:<name>|<token>`` — a secret, so only its public ``detail``
  (``prod:<name>``) is read; preview deploy keys (``preview:<team>:<project>|…``) and project keys
  name no deployment;
- ``https://<name>.convex.cloud`` / ``.convex.site`` URLs (also regional ones,
  ``<name>.eu-west-1.convex.cloud``);
- Supabase project refs: ``https://<ref>.supabase.co``, ``db.<ref>.supabase.co``, and the ``ref``
  claim of Supabase JWTs (read from a public anon key's value, or from a secret's detail
  ``supabase:<ref>``);
- Upstash hosts (``<name>.upstash.io``), other Redis hosts, Render services
  (``<service>.onrender.com``) and Render's internal ``red-…`` / ``dpg-…`` hosts.

Everything here is a pure read of what is already stored: the clear value of a public variable,
the public ``detail`` of a secret (a host, a deployment name), never a secret's value.
:func:`points_at` reads ``environment.variables.all()`` and ``environment.deployments.all()``,
so environments loaded with ``prefetch_related("variables", "deployments")`` cost no query.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .choices import Provider

# How a target is named. The first three say "this is my deployment"; the others only use one.
REGISTERED = "registered deployment"
DEPLOYMENT_VAR = "deployment variable"
DEPLOY_KEY = "deploy key"
URL = "URL"
JWT_REF = "JWT ref claim"
NAMED = "deployment name"
OWNING = frozenset({REGISTERED, DEPLOYMENT_VAR, DEPLOY_KEY})

# Providers an application talks to through exactly one deployment per environment: two
# different ones named by one environment's variables is a mistake. An app may well use two Redis
# databases or call two Render services, so those are not held to it.
SINGLE_DEPLOYMENT_PROVIDERS = frozenset({Provider.CONVEX, Provider.SUPABASE})

REFERENCE_KIND = "reference"

_URL_IN_TEXT = re.compile(r"[a-z][a-z0-9+.\-]*://[^\s\"'<>,;|`]+", re.I)
_CONVEX_HOST = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9\-]*)\.(?:[a-z0-9\-]+\.)?convex\.(?:cloud|site)$"  # region optional
)
_CONVEX_REF = re.compile(r"^(?:(?P<type>[a-z]+):)?(?P<name>[a-z0-9][a-z0-9\-]*)$")
_RENDER_INTERNAL = re.compile(r"^(?:red|dpg)-[a-z0-9]+(?:-[a-z])?$")
_JWT = re.compile(r"^eyJ[A-Za-z0-9_\-]+\.(?P<payload>[A-Za-z0-9_\-]+)\.[A-Za-z0-9_\-]*$")
_HOSTLIKE = re.compile(r"^[a-z0-9\-]+(?:\.[a-z0-9\-]+)+$")
# Hosts that name a machine, not a deployment (read from values, never bound to).
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "::1", "host.docker.internal"})  # noqa: S104
# Convex deployment types that name a cloud deployment (local ones live on one machine).
_CONVEX_CLOUD_TYPES = frozenset({"dev", "prod", "preview"})


@dataclass(frozen=True, order=True)
class Target:
    """A deployment an environment points at, and where it says so.

    ``source_key`` is the variable naming it ("" for a registered deployment); ``via`` says how
    (:data:`DEPLOYMENT_VAR`, :data:`DEPLOY_KEY`, :data:`URL`, …). ``label`` is how messages name it.
    """

    provider: str
    name: str
    source_key: str = ""
    via: str = ""
    label: str = field(default="", compare=False)

    @property
    def owns(self) -> bool:
        """True when the environment names it as *its own* deployment, not merely one it uses."""
        return self.via in OWNING

    @property
    def ident(self) -> tuple[str, str]:
        return (self.provider, self.name)

    def describe(self) -> str:
        if self.label:
            return self.label
        return f"{Provider(self.provider).label} deployment {self.name}"


def _target(provider, name, key, via, label="") -> Target:
    return Target(str(provider), name.lower(), key, via, label)


def host_target(host: str, *, redis: bool = False) -> tuple[str, str] | None:
    """``(provider, name)`` a host names, or None: ``wary-ferret-59.convex.cloud`` → convex."""
    host = (host or "").strip().lower().rstrip(".")
    if not host or host in _LOCAL_HOSTS:
        return None
    if m := _CONVEX_HOST.match(host):
        return Provider.CONVEX, m["name"]
    labels = host.split(".")
    if host.endswith((".supabase.co", ".supabase.in")):
        rest = labels[:-2]
        if rest and rest[0] == "db":
            rest = rest[1:]
        if rest and rest[-1] in ("functions", "storage", "auth"):
            rest = rest[:-1]
        return (Provider.SUPABASE, rest[0]) if len(rest) == 1 else None
    if host.endswith(".upstash.io"):
        first = labels[0]
        if len(labels) == 3 and not first.startswith(("qstash", "api", "console", "www")):
            return Provider.UPSTASH, first
        return None
    if host.endswith(".onrender.com") and len(labels) == 3:
        return Provider.RENDER, labels[0]
    if _RENDER_INTERNAL.match(labels[0]) and (len(labels) == 1 or host.endswith(".render.com")):
        return Provider.RENDER, labels[0]
    if redis and len(labels) > 1 and not re.fullmatch(r"[\d.]+", host):
        return Provider.OTHER, host
    return None


def _url_hosts(text: str) -> list[tuple[str, bool]]:
    """``(host, is_redis)`` of every URL in a text (a value may list several)."""
    hosts = []
    for raw in _URL_IN_TEXT.findall(text or ""):
        try:
            parts = urlsplit(raw)
            host = parts.hostname or ""
        except ValueError:
            continue
        if host:
            hosts.append((host, parts.scheme.lower() in ("redis", "rediss")))
    return hosts


def _jwt_ref(value: str) -> str:
    """The ``ref`` claim of a Supabase JWT (anon / service-role keys), or ""."""
    m = _JWT.match(value.strip())
    if not m:
        return ""
    segment = m["payload"]
    try:
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):  # RecursionError: nested too deeply
        return ""
    if not isinstance(claims, dict):
        return ""
    ref = claims.get("ref")
    supabase = claims.get("iss") == "supabase" or claims.get("role") in ("anon", "service_role")
    if supabase and isinstance(ref, str) and re.fullmatch(r"[a-z0-9]{6,40}", ref):
        return ref
    return ""


def convex_deployment_name(text: str) -> tuple[str, str] | None:
    """``(type, name)`` from a ``CONVEX_DEPLOYMENT`` value or a deploy key's prefix.

    ``dev:wary-ferret-59 # team: acme, project: app`` → ``("dev", "wary-ferret-59")``; a legacy
    value without a type counts as ``prod``. Local / anonymous deployments and preview deploy keys
    (``preview:team:project``) name no cloud deployment: None.
    """
    text = (text or "").split("#", 1)[0].split("|", 1)[0].strip().strip("\"'").strip().lower()
    m = _CONVEX_REF.match(text)
    if not m:
        return None
    kind = m["type"] or "prod"
    if kind not in _CONVEX_CLOUD_TYPES:
        return None
    return kind, m["name"]


def variable_targets(var) -> set[Target]:
    """The deployments one variable names (empty for a reference, an empty value, a plain text).

    Reads the clear value only when the variable is not secret, and otherwise its detail.
    """
    if not var.has_value or var.value_kind == REFERENCE_KIND:
        return set()
    key = var.key
    upper = key.upper()
    public_value = "" if var.is_secret else (var.value or "")
    detail = (var.detail or "").strip()
    found: set[Target] = set()

    if upper == "CONVEX_DEPLOYMENT" or upper.endswith("_CONVEX_DEPLOYMENT"):
        named = convex_deployment_name(public_value or detail)
        if named:
            kind, name = named
            found.add(_target(Provider.CONVEX, name, key, DEPLOYMENT_VAR, f"Convex {kind}:{name}"))
        return found
    if var.value_kind == "convex_deploy_key" or upper.endswith("CONVEX_DEPLOY_KEY"):
        source = detail if var.is_secret else public_value
        if "|" in source or ":" in source:
            named = convex_deployment_name(source)
            if named:
                kind, name = named
                found.add(_target(Provider.CONVEX, name, key, DEPLOY_KEY, f"Convex {kind}:{name}"))
        return found
    if var.value_kind == "convex_deployment":
        named = convex_deployment_name(public_value or detail)
        if named:
            found.add(_target(Provider.CONVEX, named[1], key, NAMED))

    hosts = _url_hosts(public_value)
    if detail:
        if "://" in detail:
            hosts += _url_hosts(detail)
        elif _HOSTLIKE.match(detail.lower()) or _RENDER_INTERNAL.match(detail.lower()):
            hosts.append((detail, var.value_kind == "redis_url"))
    for host, is_redis in hosts:
        hit = host_target(host, redis=is_redis)
        if hit:
            found.add(_target(hit[0], hit[1], key, URL))

    refs = set()
    if detail.lower().startswith("supabase:"):
        refs.add(detail.split(":", 1)[1].strip().lower())
    if public_value:
        refs.add(_jwt_ref(public_value))
    for ref in refs - {""}:
        found.add(_target(Provider.SUPABASE, ref, key, JWT_REF))
    return found


def deployment_targets(dep) -> set[Target]:
    """The names a registered deployment goes by: its identifier, and what its URL names."""
    label = str(dep)
    provider = dep.provider
    found = set()
    ident = (dep.identifier or "").strip()
    if ident:
        if provider == Provider.CONVEX:
            named = convex_deployment_name(ident)
            name = named[1] if named else ident.split(":")[-1]
        else:
            name = ident.split(":")[-1]
        if name:
            found.add(_target(provider, name, "", REGISTERED, label))
    if dep.url:
        for host, is_redis in _url_hosts(dep.url):
            hit = host_target(host, redis=is_redis)
            if hit:
                hit_provider = hit[0] if provider == Provider.OTHER else provider
                found.add(_target(hit_provider, hit[1], "", REGISTERED, label))
    return found


def points_at(environment, *, registered: bool = True) -> set[Target]:
    """Every deployment an environment names, one :class:`Target` per (deployment, source).

    ``registered=False`` leaves out its registered ProviderDeployments (only its variables).
    """
    targets: set[Target] = set()
    for var in environment.variables.all():
        targets |= variable_targets(var)
    if registered:
        for dep in environment.deployments.all():
            targets |= deployment_targets(dep)
    return targets


def project_targets(environments) -> dict[int, set[Target]]:
    """``points_at`` for every environment of a list (loaded with their variables prefetched)."""
    return {env.pk: points_at(env) for env in environments}


def same_deployment(a: Target, b: Target) -> bool:
    """Same name and provider (a registered deployment of provider "other" matches any)."""
    return a.name == b.name and (
        a.provider == b.provider or Provider.OTHER in (a.provider, b.provider)
    )


def own_deployments(targets) -> list[Target]:
    """What an environment names as its own, per provider.

    Where it says so explicitly (a registered deployment, ``CONVEX_DEPLOYMENT``, a deploy key),
    only those; for a provider named only through URLs or JWTs (a Supabase project, an Upstash
    database), every one it names.
    """
    by_provider: dict[str, list[Target]] = {}
    for t in targets:
        by_provider.setdefault(t.provider, []).append(t)
    own = []
    for found in by_provider.values():
        strong = [t for t in found if t.owns]
        own.extend(strong or found)
    return sorted(own)


def claims_on(target: Target, own: list[Target]) -> list[Target]:
    return [t for t in own if same_deployment(target, t)]


@dataclass(frozen=True)
class Conflict:
    """Variables of one environment naming different deployments of a single-deployment provider.

    ``names`` maps each deployment name to the variable keys naming it; ``expected`` is the one
    the environment most plausibly means (its registered deployment, else the one most variables
    name; "" on a tie); ``flagged`` are the keys naming another one (every key on a tie).
    """

    provider: str
    names: dict
    expected: str
    flagged: tuple


def conflicts(environment, targets: set[Target] | None = None) -> list[Conflict]:
    """Single-deployment providers (Convex, Supabase) whose deployments disagree in one env."""
    targets = points_at(environment) if targets is None else targets
    out = []
    for provider in sorted(SINGLE_DEPLOYMENT_PROVIDERS):
        names: dict[str, set[str]] = {}
        for t in targets:
            if t.provider == provider and t.source_key:
                names.setdefault(t.name, set()).add(t.source_key)
        if len(names) < 2:
            continue
        registered = {t.name for t in targets if t.provider == provider and not t.source_key}
        expected = ""
        if len(registered & set(names)) == 1:
            expected = next(iter(registered & set(names)))
        else:
            counts = sorted(((len(keys), n) for n, keys in names.items()), reverse=True)
            if counts[0][0] > counts[1][0]:
                expected = counts[0][1]
        flagged = sorted({k for n, keys in names.items() if n != expected for k in keys})
        out.append(
            Conflict(
                provider=provider,
                names={n: sorted(keys) for n, keys in sorted(names.items())},
                expected=expected,
                flagged=tuple(flagged),
            )
        )
    return out
