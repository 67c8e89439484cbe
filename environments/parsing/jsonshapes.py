"""JSON listings: a flat object (Doppler's JSON download, any ``{"NAME": "value"}``), Vercel's
REST API env list, Render's env group and service env-var API answers, Infisical's JSON export.

Shapes, as the tools answer:
- flat object: ``{"NAME": "value", ...}`` (numbers and booleans are written as text).
- Vercel ``GET /v10/projects/{id}/env``: ``{"envs": [{"key", "value", "type", "target",
  "gitBranch", "decrypted", ...}], "pagination": {...}}``; a key may appear once per target.
- Render ``GET /v1/env-groups/{id}``: ``{"id", "name", "ownerId", ..., "envVars": [{"key",
  "value"}], "secretFiles": [{"name", "content"}]}``.
- Render ``GET /v1/services/{id}/env-vars``: ``[{"envVar": {"key", "value"}, "cursor"}]``.
- Infisical ``export --format=json``: ``[{"key", "workspace", "value", "type", "_id",
  "secretPath", "tags", "comment", ...}]``.
"""

import json

from .base import Entry, ParseError, Reading, check_duplicates, check_key

DOPPLER_KEYS = {"DOPPLER_PROJECT", "DOPPLER_CONFIG", "DOPPLER_ENVIRONMENT"}


class _Pairs(list):
    """A JSON object kept as its (key, value) pairs, so duplicate keys can be reported."""


def load(text: str):
    try:
        return json.loads(text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg}", exc.lineno) from None


def _get(pairs, name, default=None):
    if isinstance(pairs, _Pairs):
        for k, v in pairs:
            if k == name:
                return v
    return default


class _Lines:
    """Line numbers of successive names in the text (each found after the previous one)."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def __call__(self, name: str) -> int:
        found = self.text.find(json.dumps(name), self.pos)
        if found < 0:
            found = self.text.find(json.dumps(name, ensure_ascii=False), self.pos)
        if found < 0:
            return 1
        self.pos = found + 1
        return self.text.count("\n", 0, found) + 1


def _scalar(key, value, line) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParseError(f"the value of {key} must be a string, not a nested object", line)
    return value


def classify(data) -> str | None:
    """The JSON shape of parsed data, or None when it is no listing this module reads."""
    if isinstance(data, _Pairs):
        keys = {k for k, _ in data}
        if isinstance(_get(data, "envs"), list):
            return "vercel-api"
        if isinstance(_get(data, "envVars"), list):
            return "render-env-group"
        if keys & DOPPLER_KEYS:
            return "doppler-json"
        return "json"
    if isinstance(data, list) and data and all(isinstance(i, _Pairs) for i in data):
        if all(isinstance(_get(i, "envVar"), _Pairs) for i in data):
            return "render-env-vars"
        if all(_get(i, "envGroup") is not None for i in data):
            return "render-env-groups"
        if all(isinstance(_get(i, "key"), str) and "value" in dict(i) for i in data):
            return "infisical-json"
    return None


def read_json(text: str, shape: str | None = None, *, target: str | None = None) -> Reading:
    data = load(text)
    found = classify(data)
    readers = {
        "json": _flat,
        "doppler-json": _flat,
        "vercel-api": _vercel_api,
        "render-env-group": _render_group,
        "render-env-vars": _render_service,
        "infisical-json": _infisical,
    }
    if found == "render-env-groups":
        raise ParseError(
            "this is Render's list of environment groups, which carries no values; "
            "export one group (GET /v1/env-groups/{id}) and import that",
            1,
        )
    if shape in (None, "json"):
        shape = found or "json"
    elif found != shape and {shape, found} != {"json", "doppler-json"}:
        raise ParseError(f"this JSON is not a {shape} listing", 1)
    reading = Reading(shape)
    readers[shape](data, text, reading, target)
    reading.entries = check_duplicates(reading.entries)
    return reading


def _flat(data, text, reading, target):
    if not isinstance(data, _Pairs):
        raise ParseError("expected a JSON object of NAME: value pairs", 1)
    lines = _Lines(text)
    for key, value in data:
        line = lines(key)
        check_key(str(key), line)
        reading.entries.append(Entry(key, _scalar(key, value, line), line))


def _pairs_list(items, text, reading, *, key_field="key", value_field="value"):
    lines = _Lines(text)
    for item in items:
        key, value = _get(item, key_field), _get(item, value_field)
        if not isinstance(key, str):
            raise ParseError(f"an item has no {key_field!r} name", 1)
        line = lines(key)
        check_key(key, line)
        reading.entries.append(Entry(key, _scalar(key, value, line), line))


def _render_group(data, text, reading, target):
    items = _get(data, "envVars")
    if not all(isinstance(i, _Pairs) for i in items):
        raise ParseError("envVars must be a list of {key, value} objects", 1)
    _pairs_list(items, text, reading)
    lines = _Lines(text)
    for secret_file in _get(data, "secretFiles", []) or []:
        name = _get(secret_file, "name", "")
        reading.skip(lines(name), str(name), "a Render secret file, not a variable")


def _render_service(data, text, reading, target):
    _pairs_list([_get(i, "envVar") for i in data], text, reading)


def _infisical(data, text, reading, target):
    _pairs_list(data, text, reading)


def _targets(env) -> list[str]:
    target = _get(env, "target")
    if isinstance(target, str):
        return [target]
    return [t for t in (target or []) if isinstance(t, str)]


def _vercel_api(data, text, reading, target):
    envs = _get(data, "envs")
    lines = _Lines(text)
    by_key: dict[str, list] = {}
    for env in envs:
        if not isinstance(env, _Pairs) or not isinstance(_get(env, "key"), str):
            raise ParseError("each item of envs must be an object with a key", 1)
        key = _get(env, "key")
        line = lines(key)
        check_key(key, line)
        by_key.setdefault(key, []).append((env, line))
    for key, found in by_key.items():
        chosen = found
        if target is not None:
            chosen = [(e, ln) for e, ln in found if target in _targets(e)]
            for env, line in found:
                if (env, line) not in chosen:
                    targets = ", ".join(_targets(env)) or "no target"
                    reading.skip(line, key, f"set for Vercel target {targets}, not {target}")
            if len(chosen) > 1:
                # A branch-specific preview value and the general one: take the general one.
                general = [(e, ln) for e, ln in chosen if not _get(e, "gitBranch")]
                for env, line in chosen:
                    if general and (env, line) not in general[:1]:
                        branch = _get(env, "gitBranch") or "another entry"
                        reading.skip(line, key, f"for git branch {branch} only")
                chosen = general[:1] or chosen
        if len(chosen) > 1:
            targets = "; ".join(", ".join(_targets(e)) or "no target" for e, _ in chosen)
            raise ParseError(
                f"{key} is listed once per Vercel target ({targets}); import one target's "
                "list (GET …/env?target=production) or into an environment of that tier",
                chosen[1][1],
            )
        if not chosen:
            continue
        env, line = chosen[0]
        kind = _get(env, "type")
        value = _get(env, "value")
        if kind == "sensitive" or value is None:
            reading.skip(line, key, "Vercel does not return the value of a sensitive variable")
        elif kind in ("encrypted", "secret") and _get(env, "decrypted") is not True:
            reading.skip(line, key, "encrypted in this listing: list with ?decrypt=true")
        else:
            reading.entries.append(Entry(key, _scalar(key, value, line), line))
