"""Credentials inside free text: found by the same formats, replaced by their masked form."""

import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .kinds import PUBLISHABLE_KINDS
from .names import credential_name_reason
from .values import _QUERY_CREDENTIAL, _TOKEN_FORMATS, _classify_url, _entropy, _random_segment

MASK = "***"
_BOT_SEGMENT = re.compile(r"^bot\d+:[A-Za-z0-9_\-]{20,}$")

# Credentials inside free text. Each match is replaced by its masked form; URLs keep their
# scheme and host so a note stays readable ("https://hooks.slack.com/***").
_TEXT_PATTERNS: tuple[re.Pattern, ...] = (
    re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*-----|$)"),
    re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"),
    *(
        re.compile(rf"\b(?:{body})")
        for _kind, body in _TOKEN_FORMATS
        if _kind not in PUBLISHABLE_KINDS
    ),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\b(?:dev|prod|preview|project):[A-Za-z0-9_\-:]+\|[A-Za-z0-9+/=_\-.]{16,}"),
)
_TEXT_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s<>\"'`]+", re.IGNORECASE)
# NAME=value, NAME: value, "name": "value" where NAME says credential.
_TEXT_ASSIGNMENT = re.compile(
    r"""(?P<lead>["']?(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)["']?\s*(?:=|:)\s*)"""
    r"""(?P<quote>["']?)(?P<value>[^\s"',;}]{4,})""",
)
# A line that is only ``NAME value``: a variable typed without its ``=`` (in a note, or on a
# line a reader took as the continuation of a multi-line value), a column pair pasted from a
# table listing. The name is upper case with an underscore, so prose ("Token refreshed") stays.
_TEXT_LINE_ASSIGNMENT = re.compile(
    r"^[ \t]*(?P<name>[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)[ \t]+(?P<value>[^\s=:]\S{3,})[ \t\r]*$",
    re.MULTILINE,
)
# Padding only at the end: ``NAME=value`` is two tokens, not one.
_TEXT_TOKEN = re.compile(r"(?<![A-Za-z0-9_\-+/=])[A-Za-z0-9_\-+/]{32,}={0,2}(?![A-Za-z0-9_\-+/=])")


def _mask_url(url: str, mask) -> str:
    """The URL with its credential parts replaced by ``***``: the password or key in its
    userinfo, credential query values, token path segments. What stays (scheme, host, the
    words of the path) keeps a note readable. A URL that is a credential as a whole (a Teams
    webhook) keeps only its scheme and host."""
    trailing = ""
    while url and url[-1] in ".,;:!?)]}":
        trailing = url[-1] + trailing
        url = url[:-1]
    if not _classify_url("", url).secret:
        return url + trailing
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, hostport = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            masked_user = f"{user}:{MASK}" if ":" in userinfo else MASK
            netloc = f"{masked_user}@{hostport}"
        query = "&".join(
            f"{k}={MASK}" if v and _QUERY_CREDENTIAL.match(k) else (f"{k}={v}" if v else k)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        )
        path = "/".join(
            MASK if (len(seg) >= 16 and _random_segment(seg)) or _BOT_SEGMENT.match(seg) else seg
            for seg in parts.path.split("/")
        )
        rebuilt = urlunsplit((parts.scheme, netloc, path, query, parts.fragment))
        if not _classify_url("", rebuilt).secret:
            return rebuilt + trailing
        host = parts.hostname or ""
    except ValueError:
        host = ""
    scheme = url.split("://", 1)[0]
    return f"{scheme}://{host}/{mask(url)}{trailing}"


def find_credentials(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` that are credentials (for masking or for a yes/no question)."""
    spans: list[tuple[int, int]] = []
    for m in _TEXT_URL.finditer(text):
        if _mask_url(m.group(0), lambda _u: "") != m.group(0):
            spans.append(m.span())
    for pattern in _TEXT_PATTERNS:
        spans.extend(m.span() for m in pattern.finditer(text))
    for m in _TEXT_ASSIGNMENT.finditer(text):
        if credential_name_reason(m["name"]) and not m["value"].startswith(("***", "${")):
            spans.append(m.span("value"))
    for m in _TEXT_LINE_ASSIGNMENT.finditer(text):
        if credential_name_reason(m["name"]) and not m["value"].startswith(("***", "${")):
            spans.append(m.span("value"))
    for m in _TEXT_TOKEN.finditer(text):
        token = m.group(0)
        if (
            re.search(r"[a-z]", token)
            and re.search(r"[A-Z]", token)
            and re.search(r"\d", token)
            and _entropy(token) >= 4.0
        ):
            spans.append(m.span())
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# Cheap pre-filter: text without any of these characters cannot hold a credential we find.
_MAYBE = re.compile(r"[_:=\-./|]|[A-Za-z0-9]{16,}")


def mask_text(text: str, mask) -> str:
    """``text`` with every credential span replaced by ``mask(span_text)``."""
    if len(text) < 8 or not _MAYBE.search(text):
        return text
    spans = find_credentials(text)
    if not spans:
        return text
    out, pos = [], 0
    for start, end in spans:
        out.append(text[pos:start])
        chunk = text[start:end]
        masked_url = _mask_url(chunk, mask) if _TEXT_URL.fullmatch(chunk) else chunk
        if masked_url != chunk:
            out.append(masked_url)
        else:
            out.append(mask(chunk))
        pos = end
    out.append(text[pos:])
    return "".join(out)
