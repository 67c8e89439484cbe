"""Automated checks. Each returns ``{"ok", "summary", "figures"}`` and never raises for the
target's failures: a down server, a timeout or a disallowed URL is a failed check, not a crash.

HTTP checks reach only origins configured on the runbook (``allowed_urls``, which only approvers
change) or on the run's environment (its URL and provider deployment URLs), follow a redirect
only to another of those origins, and go through :mod:`opsportal.outbound`: every address of
every hop is vetted (no loopback, link-local, private, ... unless ``CHECK_ALLOWED_NETWORKS``
says so) and the connection goes to the vetted address. A result carries the status, the timing
and whether the body contains the expected text — never what a non-HTTP service answered.

Bounds: each socket operation waits at most ``CHECK_MAX_TIMEOUT_SECONDS``; a whole check (every
request of a latency check, every redirect) at most ``CHECK_MAX_SECONDS``; a latency check sends
at most ``CHECK_LATENCY_MAX_REQUESTS`` requests. The two settings are capped again here.
"""

from __future__ import annotations

import math
import ssl
import time
from urllib.parse import urlsplit

from django.conf import settings

from opsportal import outbound

from .choices import CheckType

MAX_REDIRECTS = outbound.MAX_REDIRECTS
MAX_BODY = outbound.MAX_BODY
SECONDS_CEILING = 120.0  # well inside the django-q2 task timeout
LATENCY_REQUESTS_CEILING = 200


def origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port}"


def allowed_origins(step_run) -> set[str]:
    run = step_run.run
    urls = [u for u in run.version.runbook.allowed_urls.splitlines() if u.strip()]
    if run.environment.url:
        urls.append(run.environment.url)
    urls += [d.url for d in run.environment.deployments.all() if d.url]
    origins = set()
    for u in urls:
        try:
            origins.add(origin(u.strip()))
        except ValueError:  # an unusable URL opens no origin
            continue
    return origins


def max_seconds() -> float:
    """Total seconds one check may take: the setting, never above the ceiling."""
    return max(0.1, min(float(settings.CHECK_MAX_SECONDS), SECONDS_CEILING))


def max_latency_requests() -> int:
    """The most requests a latency check sends: the setting, never above the ceiling."""
    return max(1, min(int(settings.CHECK_LATENCY_MAX_REQUESTS), LATENCY_REQUESTS_CEILING))


def _timeout(config: dict) -> float:
    return max(0.1, min(float(config.get("timeout") or 10), settings.CHECK_MAX_TIMEOUT_SECONDS))


class CheckError(Exception):
    pass


def _permit(allowed: set[str], first: str):
    def permit(url: str) -> None:
        if origin(url) in allowed:
            return
        if url == first:
            raise CheckError(
                f"{origin(url)} is not an allowed origin for this run; add it to the runbook's "
                "allowed URLs or the environment's URL."
            )
        raise CheckError(
            f"{first} redirected to another origin ({origin(url)}) that this run does not "
            "allow; the check does not follow it."
        )

    return permit


def fetch(
    url: str, *, allowed: set[str], timeout: float, deadline: float | None = None
) -> tuple[int, bytes, float]:
    """GET ``url`` under the outbound policy; returns (status, body, seconds)."""
    resp = outbound.fetch(
        url,
        timeout=timeout,
        deadline=deadline if deadline is not None else time.monotonic() + max_seconds(),
        permit=_permit(allowed, url),
        max_redirects=MAX_REDIRECTS,
        max_body=MAX_BODY,
    )
    return resp.status, resp.body, resp.seconds


def _network(fn):
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (CheckError, outbound.OutboundRefused, outbound.NotHTTP) as exc:
            return {"ok": False, "summary": str(exc), "figures": {}}
        except outbound.DeadlineExceeded:
            return {
                "ok": False,
                "summary": f"Stopped: the check's {max_seconds():g} s budget ran out.",
                "figures": {"budget_s": max_seconds()},
            }
        except outbound.OutboundError as exc:
            return {"ok": False, "summary": str(exc), "figures": {}}
        except TimeoutError:
            return {"ok": False, "summary": "Timed out waiting for the server.", "figures": {}}
        except ValueError:  # a port that is not a number, a malformed IPv6 literal
            return {"ok": False, "summary": "The check's URL is not valid.", "figures": {}}
        except OSError as exc:
            # The operating system's words (refused, unreachable, certificate), never the peer's.
            reason = exc.strerror or type(exc).__name__
            if isinstance(exc, ssl.SSLError):
                reason = f"TLS failed ({exc.reason or 'handshake'})"
            return {"ok": False, "summary": f"Could not connect: {reason}", "figures": {}}

    return wrapper


@_network
def http_check(config: dict, *, allowed: set[str]) -> dict:
    url, expected = config["url"], int(config.get("expected_status") or 200)
    status, body, seconds = fetch(url, allowed=allowed, timeout=_timeout(config))
    figures = {"status": status, "expected_status": expected, "ms": round(seconds * 1000, 1)}
    if status != expected:
        return {
            "ok": False,
            "summary": f"{url} returned {status}, expected {expected}.",
            **{"figures": figures},
        }
    contains = config.get("contains") or ""
    if contains:
        # A yes/no verdict only: the body itself is never part of the result.
        figures["contains"] = contains in body.decode("utf-8", "replace")
        if not figures["contains"]:
            return {
                "ok": False,
                "summary": f"{url} returned {status} but the body lacks {contains!r}.",
                "figures": figures,
            }
    return {
        "ok": True,
        "summary": f"{url} returned {status} in {figures['ms']} ms.",
        "figures": figures,
    }


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@_network
def latency_check(config: dict, *, allowed: set[str]) -> dict:
    url, asked = config["url"], int(config.get("requests") or 20)
    n = max(1, min(asked, max_latency_requests()))
    threshold = float(config.get("threshold_ms") or 500)
    which = str(config.get("percentile") or "p95").lower()
    timings, errors = [], 0
    # The whole check must end well inside the django-q2 task timeout.
    budget = max_seconds()
    deadline = time.monotonic() + budget
    for _ in range(n):
        try:
            status, _body, seconds = fetch(
                url, allowed=allowed, timeout=_timeout(config), deadline=deadline
            )
        except outbound.DeadlineExceeded:
            return {
                "ok": False,
                "summary": f"Stopped after {len(timings)} of {n} requests: the check's "
                f"{budget:g} s budget ran out.",
                "figures": {"requests": len(timings), "budget_s": budget},
            }
        if status >= 400:
            errors += 1
        timings.append(seconds * 1000)
    figures = {
        "requests": n,
        "errors": errors,
        "p50_ms": round(percentile(timings, 50), 1),
        "p95_ms": round(percentile(timings, 95), 1),
        "p99_ms": round(percentile(timings, 99), 1),
        "threshold_ms": threshold,
        "percentile": which,
    }
    value = figures[f"{which}_ms"]
    ok = value < threshold and errors == 0
    verdict = "under" if value < threshold else "over"
    summary = (
        f"{which.upper()} {value} ms {verdict} {threshold:g} ms over {n} requests "
        f"(P50 {figures['p50_ms']}, P95 {figures['p95_ms']}, P99 {figures['p99_ms']})"
    )
    if errors:
        summary += f"; {errors} error responses"
    if n < asked:
        summary += f"; {asked} requests asked, {n} sent (CHECK_LATENCY_MAX_REQUESTS)"
    return {"ok": ok, "summary": summary + ".", "figures": figures}


def env_drift_check(config: dict, *, environment) -> dict:
    from environments.drift import key_drift  # built in parallel by the environments app
    from environments.models import Environment

    other = Environment.objects.filter(pk=config.get("other_environment")).first()
    if other is None:
        return {
            "ok": False,
            "summary": "The environment to compare with no longer exists.",
            "figures": {},
        }
    drift = key_drift(environment, other)
    only_a, only_b = list(drift.get("only_in_a", [])), list(drift.get("only_in_b", []))
    figures = {"only_in_a": only_a, "only_in_b": only_b}
    if only_a or only_b:
        return {
            "ok": False,
            "summary": f"Key drift between {environment.name} and {other.name}: "
            f"{len(only_a)} only in {environment.name}, {len(only_b)} only in {other.name}.",
            "figures": figures,
        }
    return {
        "ok": True,
        "summary": f"No key drift between {environment.name} and {other.name}.",
        "figures": figures,
    }


def env_clean_check(config: dict, *, environment) -> dict:
    from environments.hygiene import check_environment  # built in parallel

    findings = check_environment(environment)
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    figures = {
        "errors": len(errors),
        "warnings": len(warnings),
        "findings": [f"{f.rule}: {f.message}" for f in errors[:20]],
    }
    if errors:
        return {
            "ok": False,
            "summary": f"env_check found {len(errors)} error(s) in {environment.name}.",
            "figures": figures,
        }
    return {
        "ok": True,
        "summary": f"env_check clean for {environment.name} ({len(warnings)} warning(s)).",
        "figures": figures,
    }


def import_job_check(config: dict) -> dict:
    from imports.checks import job_status  # built in parallel by the imports app

    status = job_status(int(config["job_id"]))
    return {
        "ok": bool(status.get("ok")),
        "summary": str(status.get("summary", "")),
        "figures": dict(status.get("figures", {})),
    }


def sample_verified_check(config: dict) -> dict:
    """A completed sample verification of the named import jobs found no member wrong."""
    from imports.checks import sample_status

    status = sample_status(config.get("job_ids") or [])
    return {
        "ok": bool(status.get("ok")),
        "summary": str(status.get("summary", "")),
        "figures": dict(status.get("figures", {})),
    }


def run_for(step_run) -> dict:
    """Run the step's configured check and return its result (never raises for target errors)."""
    step, config = step_run.step, step_run.step.check_config
    started = time.perf_counter()
    try:
        if step.check_type == CheckType.HTTP:
            result = http_check(config, allowed=allowed_origins(step_run))
        elif step.check_type == CheckType.LATENCY:
            result = latency_check(config, allowed=allowed_origins(step_run))
        elif step.check_type == CheckType.ENV_DRIFT:
            result = env_drift_check(config, environment=step_run.run.environment)
        elif step.check_type == CheckType.ENV_CLEAN:
            result = env_clean_check(config, environment=step_run.run.environment)
        elif step.check_type == CheckType.IMPORT_JOB:
            result = import_job_check(config)
        elif step.check_type == CheckType.SAMPLE_VERIFIED:
            result = sample_verified_check(config)
        else:
            result = {"ok": False, "summary": "This step has no automated check.", "figures": {}}
    except ImportError as exc:
        result = {
            "ok": False,
            "summary": f"This check is not available yet ({exc.name}).",
            "figures": {},
        }
    result["check"] = step.check_type
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result
