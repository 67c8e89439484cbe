"""Automated checks. Each returns ``{"ok", "summary", "figures"}`` and never raises for the
target's failures: a down server, a timeout or a disallowed URL is a failed check, not a crash.

HTTP checks reach only origins configured on the runbook (``allowed_urls``) or on the run's
environment (its URL and provider deployment URLs), never follow a redirect to another origin,
and use a timeout capped by ``settings.CHECK_MAX_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import http.client
import math
import time
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from .choices import CheckType

MAX_REDIRECTS = 5
MAX_BODY = 1024 * 1024
BUDGET_FACTOR = 4  # a latency check may take 4x the per-request cap in total


def origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def allowed_origins(step_run) -> set[str]:
    run = step_run.run
    urls = [u for u in run.version.runbook.allowed_urls.splitlines() if u.strip()]
    if run.environment.url:
        urls.append(run.environment.url)
    urls += [d.url for d in run.environment.deployments.all() if d.url]
    return {origin(u.strip()) for u in urls}


def _timeout(config: dict) -> float:
    return max(0.1, min(float(config.get("timeout") or 10), settings.CHECK_MAX_TIMEOUT_SECONDS))


def fetch(url: str, *, allowed: set[str], timeout: float) -> tuple[int, bytes, float]:
    """GET ``url`` following same-origin redirects only; returns (status, body, seconds)."""
    started = time.perf_counter()
    for _ in range(MAX_REDIRECTS + 1):
        if origin(url) not in allowed:
            raise CheckError(
                f"{origin(url)} is not an allowed origin for this run; add it to the runbook's "
                "allowed URLs or the environment's URL."
            )
        parts = urlsplit(url)
        conn_cls = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_cls(parts.hostname, parts.port, timeout=timeout)
        try:
            path = parts.path or "/"
            if parts.query:
                path += f"?{parts.query}"
            conn.request("GET", path, headers={"User-Agent": "opsportal-check/1"})
            resp = conn.getresponse()
            body = resp.read(MAX_BODY)
            status = resp.status
            location = resp.getheader("Location")
        finally:
            conn.close()
        if status in (301, 302, 303, 307, 308) and location:
            target = urljoin(url, location)
            if origin(target) != origin(url):
                raise CheckError(
                    f"{url} redirected to {target}, another origin; the check does not follow it."
                )
            url = target
            continue
        return status, body, time.perf_counter() - started
    raise CheckError(f"More than {MAX_REDIRECTS} redirects.")


class CheckError(Exception):
    pass


def _network(fn):
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CheckError as exc:
            return {"ok": False, "summary": str(exc), "figures": {}}
        except TimeoutError:
            return {"ok": False, "summary": "Timed out waiting for the server.", "figures": {}}
        except OSError as exc:
            return {"ok": False, "summary": f"Could not connect: {exc}", "figures": {}}
        except http.client.HTTPException as exc:
            return {"ok": False, "summary": f"Bad HTTP response: {exc!r}", "figures": {}}

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
    if contains and contains not in body.decode("utf-8", "replace"):
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
    url, n = config["url"], int(config.get("requests") or 20)
    threshold = float(config.get("threshold_ms") or 500)
    which = str(config.get("percentile") or "p95").lower()
    timings, errors = [], 0
    # The whole check must end well inside the django-q2 task timeout.
    budget = settings.CHECK_MAX_TIMEOUT_SECONDS * BUDGET_FACTOR
    started = time.perf_counter()
    for _ in range(n):
        if time.perf_counter() - started > budget:
            return {
                "ok": False,
                "summary": f"Stopped after {len(timings)} of {n} requests: the check's "
                f"{budget:g} s budget ran out.",
                "figures": {"requests": len(timings), "budget_s": budget},
            }
        status, _body, seconds = fetch(url, allowed=allowed, timeout=_timeout(config))
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
