"""Approval written in the plan: ``<!-- ops: … -->`` comments (invisible on GitHub).

A marker on a step's line, or on a line of the step's own content, applies to that step; one on
a phase's heading (or in its description before the first step) applies to every step of the
phase. Several directives may share one comment, separated by ``;``.

- ``second-signoff`` (also ``second-sign-off``): a second person signs the step on protected
  environments, whatever the runbook's setting;
- ``optional``: the run can complete without the step;
- ``check http [GET] URL [expect STATUS] [contains "TEXT"] [timeout SECONDS]``: an HTTP check;
  with a percentile bound (``p95<500ms``, optionally ``requests N``) it is a latency check
  (every response must be below 400 and the percentile under the bound);
- ``check latency URL p95<500ms [requests N] [timeout SECONDS]``;
- ``check env-clean`` · ``check env-drift ENVIRONMENT_ID`` · ``check import-job JOB_ID`` ·
  ``check sample-verified JOB_ID [JOB_ID …]``.

An unknown directive or a malformed check is an error naming its line: a plan that asks for a
check must not import without it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import PlanParseError


def _number(word: str | None) -> int | None:
    """``word`` as a number written in ASCII digits (at most 9), else None: ``"²".isdigit()`` is
    true and ``int("²")`` raises, and ``"١٢"`` is not what an author of a check means."""
    if not word or len(word) > 9 or not (word.isascii() and word.isdigit()):
        return None
    return int(word)


MARKER_RE = re.compile(r"<!--\s*ops\s*:(.*?)-->", re.IGNORECASE | re.DOTALL)
ONLY_MARKERS_RE = re.compile(r"^\s*(?:<!--\s*ops\s*:.*?-->\s*)+$", re.IGNORECASE | re.DOTALL)
PCT_RE = re.compile(r"^(p50|p95|p99)\s*<\s*=?\s*(\d+(?:\.\d+)?)\s*(ms|s)?$", re.IGNORECASE)


@dataclass
class Effect:
    second_signoff: bool = False
    optional: bool = False
    check_type: str = ""
    check_config: dict = field(default_factory=dict)


def strip(text: str) -> tuple[str, list[str]]:
    """``text`` without its ``ops:`` comments, and the directives they held."""
    found: list[str] = []
    if "<!--" not in text:
        return text, found

    def take(m):
        found.extend(d.strip() for d in m.group(1).split(";") if d.strip())
        return ""

    return MARKER_RE.sub(take, text), found


def _check(words: list[str], line: int) -> tuple[str, dict]:
    def fail(why: str):
        raise PlanParseError(f"Line {line}: the check marker is not valid: {why}.")

    if not words:
        fail("name the check (http, latency, env-clean, env-drift, import-job, sample-verified)")
    kind, rest = words[0].lower().replace("_", "-"), words[1:]
    if kind in ("http", "latency"):
        if rest and rest[0].upper() in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"):
            if rest[0].upper() != "GET":
                fail(f"checks only send GET requests, not {rest[0].upper()}")
            rest = rest[1:]
        if not rest:
            fail("an http check needs a URL")
        url = rest[0]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            fail(f"{url!r} is not an http(s) URL")
        config: dict = {"url": url}
        percentile = None
        i = 1
        while i < len(rest):
            word = rest[i].lower()
            nxt = rest[i + 1] if i + 1 < len(rest) else None
            pct = PCT_RE.match(rest[i])
            if pct:
                value = float(pct.group(2)) * (1000 if (pct.group(3) or "ms").lower() == "s" else 1)
                percentile = (pct.group(1).lower(), value)
            elif word in ("expect", "status") and _number(nxt) is not None:
                config["expected_status"] = _number(nxt)
                i += 1
            elif word == "contains" and nxt is not None:
                config["contains"] = nxt
                i += 1
            elif word == "timeout" and nxt:
                try:
                    config["timeout"] = float(nxt.rstrip("s"))
                except ValueError:
                    fail(f"timeout {nxt!r} is not a number of seconds")
                # nan and inf parse as floats, but JSON in PostgreSQL cannot hold them.
                if not (0 < config["timeout"] < 86400):
                    fail(f"timeout {nxt!r} is not a number of seconds")
                i += 1
            elif word == "requests" and _number(nxt) is not None:
                config["requests"] = _number(nxt)
                i += 1
            else:
                fail(f"{rest[i]!r} is not understood")
            i += 1
        if kind == "latency" or percentile:
            if not percentile:
                fail("a latency check needs a bound such as p95<500ms")
            config["percentile"], config["threshold_ms"] = percentile
            return "latency", config
        config.setdefault("expected_status", 200)
        return "http", config
    if kind == "env-clean":
        return "env_clean", {}
    if kind == "env-drift":
        if len(rest) != 1 or _number(rest[0]) is None:
            fail("env-drift needs the id of the environment to compare with")
        return "env_drift", {"other_environment": _number(rest[0])}
    if kind == "import-job":
        if len(rest) != 1 or _number(rest[0]) is None:
            fail("import-job needs the import job id")
        return "import_job", {"job_id": _number(rest[0])}
    if kind == "sample-verified":
        if not rest or not all(word.isascii() and word.isdigit() for word in rest):
            fail("sample-verified needs the import job ids")
        return "sample_verified", {"job_ids": sorted({int(word) for word in rest})}
    fail(f"unknown check {words[0]!r}")
    raise AssertionError  # pragma: no cover


def apply(directives: list[str], line: int) -> Effect:
    effect = Effect()
    for directive in directives:
        try:
            words = shlex.split(directive)
        except ValueError as exc:
            raise PlanParseError(f"Line {line}: the ops marker {directive!r}: {exc}.") from None
        if not words:
            continue
        head = words[0].lower()
        if head in ("second-signoff", "second-sign-off", "second_signoff"):
            effect.second_signoff = True
        elif head == "optional":
            effect.optional = True
        elif head == "check":
            if effect.check_type:
                raise PlanParseError(f"Line {line}: a step can carry one automated check.")
            effect.check_type, effect.check_config = _check(words[1:], line)
        else:
            raise PlanParseError(
                f"Line {line}: unknown ops marker {words[0]!r} "
                "(known: second-signoff, optional, check …)."
            )
    return effect
