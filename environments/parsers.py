"""Kept for existing callers: the readers live in :mod:`environments.parsing`."""

from .parsing import *  # noqa: F403
from .parsing import (  # noqa: F401
    FORMATS,
    KEY_RE,
    MAX_BYTES,
    SHAPES,
    Declaration,
    Entry,
    ParseError,
    Reading,
    decode,
    detect_format,
    looks_like_credential,
    parse,
    parse_convex,
    parse_dotenv,
    parse_json,
    parse_markdown_table,
    parse_vercel,
    read,
)
