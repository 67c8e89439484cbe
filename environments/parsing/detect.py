"""Which shape a text is, without being told: the names the preview shows ("Read as: …")."""

import re

from .compose import looks_like_compose
from .dotenv import VERCEL_HEADER, looks_like_infisical
from .markdown import TABLE_RE

SHAPES = {
    "dotenv": ".env",
    "vercel": "vercel env pull",
    "convex": "convex env list",
    "doppler-env": "Doppler download (env)",
    "doppler-raw": "Doppler download (env-no-quotes)",
    "doppler-json": "Doppler download (JSON)",
    "infisical-env": "Infisical export (dotenv)",
    "infisical-json": "Infisical export (JSON)",
    "json": "JSON object",
    "vercel-api": "Vercel API env list",
    "render-env-group": "Render env group JSON",
    "render-env-vars": "Render service env vars JSON",
    "compose": "docker-compose environment",
    "markdown": "Markdown table",
}
JSON_SHAPES = {
    "json",
    "doppler-json",
    "vercel-api",
    "render-env-group",
    "render-env-vars",
    "infisical-json",
}

_BARE_START = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_DOPPLER_LINE = re.compile(r"^DOPPLER_(?:PROJECT|CONFIG|ENVIRONMENT)=", re.M)
_DOUBLE_QUOTED = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*="')


def detect(text: str, filename: str = "") -> str:
    """The shape code of ``text`` (a key of :data:`SHAPES`; JSON shapes are refined on reading)."""
    name = filename.lower()
    stripped = text.lstrip()
    if name.endswith(".md") or TABLE_RE.search(text):
        return "markdown"
    if name.endswith(".json") or stripped[:1] in ("{", "["):
        return "json"
    if text.startswith(VERCEL_HEADER):
        return "vercel"
    if name.endswith((".yml", ".yaml")) or looks_like_compose(text):
        return "compose"
    if _DOPPLER_LINE.search(text):
        lines = [ln for ln in text.split("\n") if _BARE_START.match(ln)]
        if lines and all(_DOUBLE_QUOTED.match(ln) for ln in lines):
            return "doppler-env"
        if is_bare_listing(text):
            return "doppler-raw"
        return "dotenv"
    if looks_like_infisical(text):
        return "infisical-env"
    if is_bare_listing(text):
        return "convex"
    return "dotenv"


def is_bare_listing(text: str) -> bool:
    """Only ``NAME=value`` lines and lines continuing them: no comments, no ``export``."""
    body = text[:-1] if text.endswith("\n") else text
    lines = body.split("\n")
    return (
        bool(lines)
        and bool(_BARE_START.match(lines[0]))
        and not any(ln.startswith(("#", "export ")) for ln in lines)
    )
