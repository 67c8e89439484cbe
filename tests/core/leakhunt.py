"""Sentinels and searchers for the no-leak test (issue 11, ``test_no_leak_everywhere.py``).

A *sentinel* is a credential-shaped value (Stripe key, webhook URL, Sentry DSN, URL password...)
built around a *core* that is unique to this run and to the place it was planted::

    <head><nnn><random><nnn><tail>      head, tail: 8 hex characters drawn once per run
                                        nnn: the sentinel's number in the registry
                                        random: the shape's own alphabet (hex or base62)

A core is letters and digits only, so it survives HTML, JSON, CSV and URL escaping unchanged.
One regular expression finds the head with its number *or* the number with its tail: a whole
sentinel, a truncated one, or one cut in the middle still names itself, while a masked hint (at
most the last 4 characters) does not.

The searchers turn each place data can end up (pages, exports, tables, logs, django-q2's
pickles, sessions, a database dump) into documents ``(surface, where, text)``; ``Census.scan``
records every sentinel found with where it was found.
"""

from __future__ import annotations

import html
import io
import json
import logging
import math
import os
import re
import secrets
import shutil
import subprocess
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

# --- Sentinels ---------------------------------------------------------------------------------

HEX = "0123456789abcdef"
ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_random = secrets.SystemRandom()


def entropy(value: str) -> float:
    """Shannon entropy in bits per character (what entropy-based detectors measure)."""
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


@dataclass(frozen=True)
class Planted:
    number: int
    input_id: str
    label: str  # what it is and where it went in, e.g. "SENTRY_DSN (.env value)"
    value: str


class Sentinels:
    """The registry of this run's sentinels, and the shapes they come in.

    The two tags split the 16 hex digits between them, so every core starts diverse; the middle
    is drawn from the shape's real alphabet until the core's entropy is in the shape's band
    (see ``SHAPES``): an entropy-based detector meets a typical secret, or, where a shape says
    so, a deliberately low but real one, the same way on every run."""

    def __init__(self, head: str = "", tail: str = ""):
        digits = _random.sample(HEX, len(HEX))
        self.head = head or "".join(digits[:8])
        self.tail = tail or "".join(digits[8:])
        self.planted: dict[int, Planted] = {}
        self._pattern = re.compile(rf"{self.head}(\d{{3}})|(\d{{3}}){self.tail}", re.IGNORECASE)

    def core(self, number: int, shape: str) -> str:
        length, _, alphabet, (low, high) = SHAPES[shape]
        for attempt in range(100_000):
            # narrower pools give the repeats a low band needs
            pool = alphabet if attempt % 2 == 0 else _random.sample(alphabet, _random.randint(1, 8))
            mid = "".join(_random.choice(pool) for _ in range(length - 22))
            core = f"{self.head}{number:03d}{mid}{number:03d}{self.tail}"
            if low <= entropy(core) < high:
                return core
        raise RuntimeError(f"no {shape} core in the entropy band {low}-{high} with these tags")

    def make(self, input_id: str, label: str, shape: str) -> str:
        """A sentinel of ``shape`` (a key of ``SHAPES``) planted by ``input_id`` as ``label``."""
        number = len(self.planted)
        assert number < 1000, "more than 999 sentinels: widen the number"
        value = SHAPES[shape][1].format(self.core(number, shape))
        self.planted[number] = Planted(number, input_id, f"{label} [{shape}]", value)
        return value

    def for_input(self, input_id: str) -> Maker:
        return Maker(self, input_id)

    def find(self, text: str) -> Iterator[tuple[Planted, int, int]]:
        """Every planted sentinel named in ``text``: (planted, start, end) of the match."""
        for m in self._pattern.finditer(text):
            number = int(m.group(1) or m.group(2))
            planted = self.planted.get(number)
            if planted is not None:
                yield planted, m.start(), m.end()

    def redact(self, text: str) -> str:
        """``text`` with every core fragment replaced by ``<S012>`` (for readable messages)."""
        full = re.compile(
            rf"{self.head}(?P<a>\d{{3}})[0-9A-Za-z]*?(?P=a){self.tail}"
            rf"|{self.head}(?P<b>\d{{3}})[0-9A-Za-z]*|(?P<c>\d{{3}}){self.tail}",
            re.IGNORECASE,
        )
        return full.sub(lambda m: f"<S{m['a'] or m['b'] or m['c']}>", text)


# Real 32-hex secrets (`openssl rand -hex 16`) measure 3.38 / 3.50 / 3.63 bits per character at
# their 5th / 20th / 50th percentile: TYPICAL_HEX is a secret above the median, LOW_HEX one of
# the one-in-ten draws between 3.30 and 3.45 (detect-secrets' hex limit is 3.0). Base62 cores
# are left as drawn (about 4.5 bits per character).
TYPICAL_HEX, LOW_HEX, ANY = (3.63, 9.0), (3.30, 3.45), (0.0, 9.0)

# shape -> (core length, template with {} for the core, the core's alphabet, entropy band).
# Real formats: Stripe secret keys sk_live_ + base62; Svix/Clerk whsec_ + base64; Slack
# webhooks T.../B.../<24 alnum>; Discord webhooks /api/webhooks/<id>/<68 chars>; Telegram bot
# tokens <digits>:<35 chars>; Sentry DSN public keys 32 hex; Convex deploy keys
# <type>:<deployment>|<base64 JSON>; Teams webhooks .../IncomingWebhook/<32 hex>/<guid>.
TEAMS = (
    "https://acme.webhook.office.com/webhookb2/7d1c2f0e-1b2a-4c3d-9e8f-0a1b2c3d4e5f"
    "@9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a/IncomingWebhook/{}/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
)
SHAPES: dict[str, tuple[int, str, str, tuple[float, float]]] = {
    "stripe": (40, "sk_live_51{}", ALNUM, ANY),
    "whsec": (32, "whsec_{}", ALNUM, ANY),
    "db_url": (28, "postgres://app_user:{}@db.example.com:5432/app", ALNUM, ANY),
    "slack": (24, "https://hooks.slack.com/services/T04ABCD12/B05EFGH34/{}", ALNUM, ANY),
    "discord": (68, "https://discord.com/api/webhooks/1187654321098765432/{}", ALNUM, ANY),
    "telegram": (35, "https://api.telegram.org/bot6123456789:{}/sendMessage", ALNUM, ANY),
    "sentry": (32, "https://{}@o4505.ingest.sentry.io/4505123", HEX, TYPICAL_HEX),
    "convex": (40, "prod:basic-oriole-337|eyJ2MiI6Ij{}", ALNUM, ANY),
    "session": (32, "SESSION_SECRET={}", HEX, TYPICAL_HEX),
    "hex32": (32, "{}", HEX, TYPICAL_HEX),
    "hex32_low": (32, "{}", HEX, LOW_HEX),
    "token": (32, "{}", ALNUM, ANY),
    "token_url": (32, "https://status.example.com/api/ping?token={}", ALNUM, ANY),
    "basic_url": (24, "https://svc:{}@api.example.com/v1", ALNUM, ANY),
    "redis_url": (28, "redis://default:{}@cache.example.com:6379", ALNUM, ANY),
    "password": (24, "Pw-{}", ALNUM, ANY),
    "heartbeat_path": (32, "https://uptime.betterstack.com/api/v1/heartbeat/{}", ALNUM, ANY),
    "teams": (32, TEAMS, HEX, TYPICAL_HEX),
    "webhook_path": (32, "https://api.example.com/webhooks/incoming/{}", ALNUM, ANY),
}
# A paragraph an operator might paste, with every credential shape the issue names.
PROSE_SHAPES = (
    "stripe", "whsec", "db_url", "slack", "sentry", "convex", "session", "telegram", "token_url",
)  # fmt: skip


@dataclass
class Maker:
    """Sentinels of one input: ``m.make("label", "shape")``, ``m.prose("label")``."""

    sentinels: Sentinels
    input_id: str

    def make(self, label: str, shape: str) -> str:
        return self.sentinels.make(self.input_id, label, shape)

    def prose(self, label: str, shapes: Iterable[str] = PROSE_SHAPES) -> str:
        """Free text holding one sentinel of each shape, the way people paste them."""
        parts = []
        for shape in shapes:
            value = self.make(label, shape)
            parts.append(f"see {value} ")
        return f"Rotated after the incident; {''.join(parts).strip()} (do not share)"


# --- Findings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    planted: Planted
    surface: str  # page, export, database, django-q2, session, log, command output, ...
    where: str
    snippet: str


@dataclass
class Census:
    """Everything found, plus what went wrong while planting (so a broken input fails)."""

    sentinels: Sentinels
    findings: list[Finding] = field(default_factory=list)
    planting_errors: dict[str, str] = field(default_factory=dict)
    searched: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def scan(self, surface: str, where: str, text: str) -> None:
        self.searched[surface] += 1
        seen = set()
        for planted, start, end in self.sentinels.find(text):
            if planted in seen:  # once per document: its head and its tail are one sentinel
                continue
            seen.add(planted)
            around = text[max(0, start - 60) : end + 60]
            snippet = " ".join(self.sentinels.redact(around).split())
            self.findings.append(Finding(planted, surface, where, snippet[:200]))

    def for_input(self, input_id: str, *, surfaces=None, exclude=()) -> list[Finding]:
        return [
            f
            for f in self.findings
            if f.planted.input_id == input_id
            and (surfaces is None or f.surface in surfaces)
            and f.surface not in exclude
        ]

    def as_json(self) -> str:
        """Every finding and planting error, for people fixing leaks (``LEAKHUNT_REPORT``)."""
        findings = [
            {"input": f.planted.input_id, "sentinel": f"S{f.planted.number:03d}",
             "label": f.planted.label, "surface": f.surface, "where": f.where,
             "snippet": f.snippet}
            for f in self.findings
        ]  # fmt: skip
        return json.dumps(
            {"planting_errors": self.planting_errors, "findings": findings,
             "searched": dict(self.searched)}, indent=1,
        )  # fmt: skip

    def report(self, findings: list[Finding], max_places: int = 40) -> str:
        """Sentinel by sentinel, where it was found (roles of one page grouped)."""
        by_sentinel: dict[Planted, dict[tuple[str, str], list]] = defaultdict(dict)
        for f in findings:
            where, _, role = f.where.partition(" as ")
            entry = by_sentinel[f.planted].setdefault((f.surface, where), [set(), f.snippet])
            if role:
                entry[0].add(role)
        lines = []
        for planted in sorted(by_sentinel, key=lambda p: p.number):
            places = by_sentinel[planted]
            lines.append(f"  <S{planted.number:03d}> {planted.label}: {len(places)} place(s)")
            for n, ((surface, where), (roles, snippet)) in enumerate(sorted(places.items())):
                if n == max_places:
                    lines.append(f"    - … and {len(places) - n} more")
                    break
                who = f" (as {', '.join(sorted(roles))})" if roles else ""
                lines.append(f"    - {surface}: {where}{who}\n        …{snippet}…")
        return "\n".join(lines)


# --- Documents: pages and exports ----------------------------------------------------------------

LINK = re.compile(r"""(?:href|hx-get|src)\s*=\s*["']([^"'#]*)""", re.IGNORECASE)
SKIP_PREFIXES = (
    "/static/", "/media/", "/accounts/logout", "/admin/logout", "/admin/jsi18n",
    "/admin/r/", "/admin/password_change", "/admin/autocomplete",
)  # fmt: skip
EXPORT_HINT = re.compile(r"export|download|report|\.csv|\.json|\.md|\.xlsx|errors|rejected")


def response_text(response) -> str:
    """The body of any response as text: streamed bodies joined, XLSX/ZIP members unpacked."""
    if getattr(response, "streaming", False):
        body = b"".join(response.streaming_content)
    else:
        body = response.content
    if body[:4] == b"PK\x03\x04":
        parts = []
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for name in archive.namelist():
                parts.append(archive.read(name).decode("utf-8", "replace"))
        return "\n".join(parts)
    return body.decode("utf-8", "replace")


def _is_export(url: str, response) -> bool:
    kind = response.get("Content-Type", "")
    return (
        "attachment" in response.get("Content-Disposition", "")
        or "html" not in kind
        or bool(EXPORT_HINT.search(urlsplit(url).path))
    )


def route_of(path: str) -> str:
    """``/environments/12/edit/`` -> ``/environments/N/edit/``: one template, other objects."""
    return re.sub(r"/(\d+|[0-9a-f]{32})(?=[/.])", "/N", path)


def crawl(
    client,
    seeds: Iterable[str],
    *,
    role: str,
    cap=lambda route: None,
    limit: int = 3000,
    variants: int = 8,
) -> Iterator[tuple[str, str, str]]:
    """GET every page reachable from ``seeds`` for a logged-in client: (surface, where, text).

    Links are followed from href/hx-get/src attributes and redirects. ``cap(route)`` may limit
    how many objects of one route are read (``None``: all of them); query-string variants of
    one path (filters, pagination) are capped at ``variants``."""
    queue = list(dict.fromkeys(seeds))
    seen: set[str] = set()
    queued = set(queue)
    counts: dict[str, int] = defaultdict(int)

    def enqueue(url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme and parts.netloc not in ("", "testserver"):
            return
        path, query = parts.path, parts.query
        if not path.startswith("/") or path.startswith(SKIP_PREFIXES):
            return
        if path.startswith("/admin/"):
            if "/history/" in path or "/delete/" in path:
                return
            query = ""  # the admin's filters and sort orders show the same rows again
        target = path + (f"?{query}" if query else "")
        if target in seen or target in queued:
            return
        key = f"{path}?" if query else route_of(path)
        limit_here = variants if query else cap(key)
        if limit_here is not None and counts[key] >= limit_here:
            return
        counts[key] += 1
        queue.append(target)
        queued.add(target)

    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        status = response.status_code
        if status in (301, 302, 303, 307, 308):
            enqueue(urljoin(url, response["Location"]))
            continue
        if status == 405:  # a POST-only endpoint linked from a form
            continue
        text = response_text(response)
        surface = "export" if _is_export(url, response) else "page"
        yield surface, f"GET {url} [{status}] as {role}", text
        if "html" in response.get("Content-Type", ""):
            for link in LINK.findall(text):
                enqueue(urljoin(url, html.unescape(link)))


# --- Documents: the database ---------------------------------------------------------------------


def _text(value) -> str | None:
    if value is None or isinstance(value, (bool, int, float)):
        return None
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def database_rows(connection) -> Iterator[tuple[str, str, str]]:
    """Every column of every row of every table, as stored: ("database", table.column [pk])."""
    with connection.cursor() as cursor:
        tables = sorted(connection.introspection.table_names(cursor))
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                ident = row[columns.index("id")] if "id" in columns else row[0]
                for column, value in zip(columns, row, strict=True):
                    text = _text(value)
                    if text:
                        yield "database", f"{table}.{column} [{columns[0]}={ident}]", text


def django_q_documents() -> Iterator[tuple[str, str, str]]:
    """django-q2 keeps task arguments and results pickled (base64 in the table): decode them."""
    from django_q.models import OrmQ, Schedule, Task
    from django_q.signing import SignedPackage

    for task in Task.objects.all():
        for name in ("name", "func", "hook", "group", "args", "kwargs", "result", "attempt_count"):
            value = getattr(task, name)
            if value not in (None, ""):
                where = f"django_q_task.{name} (unpickled) [task {task.name} {task.func}]"
                yield "django-q2", where, repr(value)
    for item in OrmQ.objects.all():
        try:
            payload = repr(SignedPackage.loads(item.payload))
        except Exception as exc:  # an unreadable payload is itself worth a look
            payload = f"{item.payload!r} ({exc!r})"
        yield "django-q2", f"django_q_ormq.payload (decoded) [id={item.pk}]", payload
    for schedule in Schedule.objects.all():
        yield "django-q2", f"django_q_schedule [id={schedule.pk}]", repr(vars(schedule))


def session_documents() -> Iterator[tuple[str, str, str]]:
    from django.contrib.sessions.models import Session

    for session in Session.objects.all():
        decoded = json.dumps(session.get_decoded(), default=str)
        yield "session", f"django_session (decoded) [{session.session_key[:8]}…]", decoded


def media_documents(root: Path, *, skip: set[str]) -> Iterator[tuple[str, str, str]]:
    """Files under MEDIA_ROOT except ``skip`` (relative names: uploads kept by design)."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_file() and name not in skip:
            yield "media file", f"MEDIA_ROOT/{name}", path.read_bytes().decode("latin-1")


# --- Documents: logs -----------------------------------------------------------------------------


class RecordingHandler(logging.Handler):
    """Keeps every record, formatted with its traceback and stack."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[tuple[str, str]] = []
        self._formatter = logging.Formatter()

    def emit(self, record):
        try:
            text = record.getMessage()
        except Exception:  # a record whose args do not fit its message
            text = f"{record.msg!r} % {record.args!r}"
        if record.exc_info:
            text += "\n" + self._formatter.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + record.stack_info
        extra = {
            k: v
            for k, v in vars(record).items()
            if k not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__
        }
        if extra:
            text += "\n" + repr(extra)
        self.lines.append((f"{record.name} {record.levelname} #{len(self.lines)}", text))


class capture_all_logs:
    """Every logger at DEBUG (also those configured quieter) into one recording handler."""

    def __enter__(self) -> RecordingHandler:
        self.handler = RecordingHandler()
        self.levels, self.handler_levels = {}, {}
        loggers = [logging.getLogger()] + [
            logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
        ]
        for logger in loggers:
            if isinstance(logger, logging.PlaceHolder):
                continue
            # the portal's own handlers keep printing only what they printed before
            for handler in logger.handlers:
                self.handler_levels.setdefault(handler, handler.level)
                handler.setLevel(max(handler.level, logger.getEffectiveLevel()))
            self.levels[logger] = logger.level
        for logger in self.levels:
            logger.setLevel(logging.DEBUG)
        self.disabled = logging.root.manager.disable
        logging.disable(logging.NOTSET)
        logging.getLogger().addHandler(self.handler)
        return self.handler

    def __exit__(self, *exc):
        logging.getLogger().removeHandler(self.handler)
        for logger, level in self.levels.items():
            logger.setLevel(level)
        for handler, level in self.handler_levels.items():
            handler.setLevel(level)
        logging.disable(self.disabled)
        return False


def log_documents(handler: RecordingHandler) -> Iterator[tuple[str, str, str]]:
    for where, text in handler.lines:
        yield "log", where, text


# --- Documents: pg_dump --------------------------------------------------------------------------


def pg_dump(connection, out: Path) -> Path:
    """A plain-format dump of the (test) database as another client sees it (committed data)."""
    if not shutil.which("pg_dump"):
        raise RuntimeError("pg_dump is not installed")
    db = connection.settings_dict
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    args = [
        "pg_dump", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432),
        "-U", db["USER"], "--no-owner", "--format=plain", "-f", str(out), db["NAME"],
    ]  # fmt: skip
    subprocess.run(args, env=env, check=True, capture_output=True, timeout=120)
    return out


COPY_LINE = re.compile(r"^COPY (\S+) \(")


def dump_documents(path: Path) -> Iterator[tuple[str, str, str]]:
    """One document per table section of the dump (and one for the schema lines)."""
    section, lines = "schema", []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = COPY_LINE.match(line)
            if m:
                if lines:
                    yield "pg_dump", f"pg_dump {section}", "".join(lines)
                section, lines = f"COPY {m.group(1)}", []
                continue
            if line.startswith("\\.") and section != "schema":
                yield "pg_dump", f"pg_dump {section}", "".join(lines)
                section, lines = "schema", []
                continue
            lines.append(line)
    if lines:
        yield "pg_dump", f"pg_dump {section}", "".join(lines)
    # pickles and signed sessions are base64 in the dump: a plain search cannot see into them
    # (django_q_documents and session_documents decode them from the tables instead).
