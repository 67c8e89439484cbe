"""Settings for opsportal, read from the environment (django-environ).

Local development needs no configuration: SQLite in the project folder, the ORM broker for
django-q2, and secret keys generated once into a git-ignored ``.env``. With ``DEBUG=False`` every
secret must be given explicitly and the ``check --deploy`` hardening is switched on.
"""

import base64
import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
ENV_FILE = Path(env.str("OPSPORTAL_ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.exists():
    env.read_env(str(ENV_FILE), overwrite=False)

# pytest imports settings before any test code runs; tasks then run inline (django-q2 sync mode).
TESTING = env.bool("OPSPORTAL_TESTING", default="pytest" in sys.modules)
DEBUG = env.bool("DEBUG", default=True)

# Keys that must never be guessable. In development they are generated once and kept in .env so
# sessions and fingerprints survive restarts; in production a missing key stops the start.


def _ensure_local_key(name: str, generate=None, required: bool = True) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if not DEBUG and not required:
        return ""
    if not DEBUG:
        raise ImproperlyConfigured(
            f"{name} is not set. With DEBUG=False every secret must come from the environment: "
            f"set {name} to a long random string (e.g. `python -c 'import secrets; "
            f"print(secrets.token_urlsafe(50))'`)."
        )
    value = generate() if generate else secrets.token_urlsafe(50)
    # Owner-only (0600), whoever else can read the project folder: the file holds keys.
    fd = os.open(ENV_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)  # also a file an older version created world-readable
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(f"{name}={value}\n")
    environ.Env.ENVIRON[name] = value
    return value


SECRET_KEY = _ensure_local_key("SECRET_KEY")
# HMAC key for secret fingerprints: the portal compares secrets by fingerprint, never by value.
FINGERPRINT_KEY = _ensure_local_key("FINGERPRINT_KEY")
# Signed audit checkpoints (docs/audit.md, "Checkpoints"): an Ed25519 private key, base64 of its
# 32 raw bytes, kept outside the database. Generated into .env in development; in production the
# checkpoints stay off (audit_checkpoint refuses) until it is set. The key id names it in every
# checkpoint (default: derived from its public half); AUDIT_VERIFY_KEYS (id=base64 public key,
# comma-separated) keeps retired keys verifiable after a rotation.
AUDIT_SIGNING_KEY = _ensure_local_key(
    "AUDIT_SIGNING_KEY",
    generate=lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    required=False,
)
AUDIT_SIGNING_KEY_ID = env.str("AUDIT_SIGNING_KEY_ID", default="")
AUDIT_VERIFY_KEYS = env.dict("AUDIT_VERIFY_KEYS", default={})
AUDIT_CHECKPOINT_DIR = Path(
    env.str("AUDIT_CHECKPOINT_DIR", default=str(BASE_DIR / "var" / "audit-checkpoints"))
)
# Copies of each checkpoint line off the machine (both optional): POSTed to AUDIT_CHECKPOINT_URL
# (http(s), user:password@ for Basic auth), sent to syslog at AUDIT_CHECKPOINT_SYSLOG (/dev/log,
# host:port over UDP or tcp://host:port). A failed copy is logged and audited, never fatal.
AUDIT_CHECKPOINT_URL = env.str("AUDIT_CHECKPOINT_URL", default="")
AUDIT_CHECKPOINT_SYSLOG = env.str("AUDIT_CHECKPOINT_SYSLOG", default="")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_q",
    "import_export",
    "opsportal",
    "opsportal.audit",
    "opsportal.accounts",
    "opsportal.api",
    # django-ninja: the JSON API; listed so /api/docs serves its vendored Swagger UI (no CDN).
    "ninja",
    "environments",
    "runbooks",
    "imports",
    "mailings",
    "deployments",
    "notifications",
    "operations",
    "sejolisync",
    "compliance",
]

MIDDLEWARE = [
    # First: every later middleware (axes, the audit trail, logs) sees the client's address.
    "opsportal.security.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "opsportal.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "opsportal.audit.middleware.RequestContextMiddleware",
    "opsportal.security.QueryGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "opsportal.accounts.middleware.SessionIdleRefreshMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "opsportal.accounts.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout raised by the backend into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "opsportal.urls"
WSGI_APPLICATION = "opsportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "opsportal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "opsportal.context_processors.portal",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A django-q2 worker writes while the web server reads: WAL lets readers proceed, the busy
    # timeout waits for the lock instead of failing, and IMMEDIATE transactions take the write lock
    # up front so two writers never deadlock upgrading a read lock.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=30),
        "transaction_mode": "IMMEDIATE",
    }
    # The deployments ledger's covering index (INCLUDE columns, for PostgreSQL's DORA queries)
    # is a plain index on SQLite, which is what the embedded portal wants: not worth a warning
    # on every command.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Behind PgBouncer in transaction mode: no server-side cursors (and CONN_MAX_AGE=0).
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DB_DISABLE_SERVER_SIDE_CURSORS", default=False
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Sessions end after this much inactivity: activity pushes the expiry forward, at most once
# per SESSION_REFRESH_SECONDS (opsportal.accounts.middleware), not with a write per request.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_REFRESH_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# django-axes: lock a username+IP pair out after repeated failures.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# A password typed into the username box must not land in axes' tables or logs.
AXES_USERNAME_CALLABLE = "opsportal.accounts.services.axes_username"
AXES_SENSITIVE_PARAMETERS = ["username", "password", "ip_address"]
# Behind reverse proxies: how many of them append to X-Forwarded-For (0: none, REMOTE_ADDR is the
# client). The client is the N-th address from the right; what the client wrote further left is
# ignored. opsportal.security.TrustedProxyMiddleware applies it for the audit trail and the logs,
# and django-axes asks the same function (axes' AXES_IPWARE_* settings need django-ipware).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "opsportal.security.client_ip"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "opsportal" / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 25 * 1024 * 1024
# Import files can be large; the importers enforce their own limits with a clear message.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000
# An XLSX is a zip: refused from its archive's declared sizes, before anything unpacks it, when
# its parts unpack to more than this, or one part to more than RATIO times its packed size.
IMPORT_XLSX_MAX_UNCOMPRESSED = env.int("IMPORT_XLSX_MAX_UNCOMPRESSED", default=200 * 1024 * 1024)
IMPORT_XLSX_MAX_RATIO = env.int("IMPORT_XLSX_MAX_RATIO", default=100)
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=1_000_000)
# Stored import files of completed, failed, cancelled and rolled-back jobs are deleted this many
# days after the job finished (manage.py import_files_purge, daily on django-q2); 0 keeps them.
IMPORT_FILE_RETENTION_DAYS = env.int("IMPORT_FILE_RETENTION_DAYS", default=90)

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Background execution (django-q2) ---------------------------------------------------------
# `retry` must exceed `timeout`, or a long task is delivered a second time while still running.
# Imports get their own cluster so a long import never starves short checks and notifications.
Q_TIMEOUT = env.int("Q_TIMEOUT", default=300)
Q_IMPORT_TIMEOUT = env.int("Q_IMPORT_TIMEOUT", default=3600)
Q_CLUSTER = {
    "name": "opsportal",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 60,
    "max_attempts": 3,
    "ack_failures": True,
    "save_limit": 500,
    "catch_up": False,
    "orm": "default",
    "poll": 0.5,
    "sync": env.bool("Q_SYNC", default=TESTING),
    "ALT_CLUSTERS": {
        "imports": {
            "workers": env.int("Q_IMPORT_WORKERS", default=1),
            "timeout": Q_IMPORT_TIMEOUT,
            "retry": Q_IMPORT_TIMEOUT + 300,
            "max_attempts": 5,
        },
    },
}
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = REDIS_URL
IMPORTS_CLUSTER = "imports"
# A sample verification still "drawing" this long after it started lost its task: portal_status
# reports it and its page offers to queue the draw again.
IMPORTS_SAMPLE_DRAW_STUCK_MINUTES = env.int("IMPORTS_SAMPLE_DRAW_STUCK_MINUTES", default=30)
# Welcome e-mails (mailings/): default messages per second of a campaign (0 = no limit; each
# campaign sets its own), recipients a sender claims at once, seconds without a committed batch
# before a "sending" campaign counts as stalled (resumable), seconds one task sends before
# handing over to a fresh one (below the imports cluster's timeout).
MAILINGS_RATE = env.float("MAILINGS_RATE", default=10.0)
MAILINGS_BATCH_SIZE = env.int("MAILINGS_BATCH_SIZE", default=100)
MAILINGS_STALL_SECONDS = env.float("MAILINGS_STALL_SECONDS", default=120.0)
MAILINGS_TASK_SECONDS = env.float("MAILINGS_TASK_SECONDS", default=Q_IMPORT_TIMEOUT * 0.8)

# --- Logging: every line carries the request id set by the audit middleware --------------------
# Error pages and error e-mails never show posted values or local variables (opsportal/errors.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "opsportal.errors.PortalExceptionReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "opsportal.audit.middleware.RequestContextFilter"},
        # a 403/404 is one warning line, without the traceback (opsportal/errors.py)
        "client_errors": {"()": "opsportal.errors.ClientErrorLogFilter"},
        # the path of a refused request may carry a token (a shop hook's): masked at the source
        "request_paths": {"()": "opsportal.errors.RequestPathLogFilter"},
    },
    "formatters": {
        "portal": {
            "format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "portal",
            "filters": ["request_context", "client_errors"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's defaults give the "django" logger a console handler of its own (DEBUG) and
        # then pass the record to the root handler: every line printed twice. Root only.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["request_paths"]},
        "django.server": {"filters": ["request_paths"]},
        "django.security.csrf": {"filters": ["request_paths"]},
        "axes": {"level": "WARNING"},
    },
}

# --- Notifications: e-mail and chat (docs/notifications.md) -------------------------------------
# E-mail through Django's backends, one URL (django-environ): smtp+tls://user:pass@host:587,
# smtps://… (implicit TLS), consolemail:// (the default: printed by the worker), filemail:////abs/dir
# (four slashes for an absolute path), dummymail://. A provider's API: django-anymail (not bundled).
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update({k: v for k, v in EMAIL_CONFIG.items() if v not in (None, "")})
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="opsportal <opsportal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Every message links back here: the portal's address as people reach it.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Chat webhook URLs are secrets: stored encrypted (Fernet) under this key, never shown back.
# Development generates one into .env; in production chat channels stay off until it is set.
# Comma-separated to rotate: the first encrypts, every one decrypts.
NOTIFY_ENCRYPTION_KEY = env.str("NOTIFY_ENCRYPTION_KEY", default="") or (
    _ensure_local_key("NOTIFY_ENCRYPTION_KEY") if DEBUG else ""
)
# Webhooks to private or loopback addresses are refused unless allowed here (as for checks).
NOTIFY_ALLOWED_NETWORKS = env.list("NOTIFY_ALLOWED_NETWORKS", default=[])
NOTIFY_MAX_ATTEMPTS = env.int("NOTIFY_MAX_ATTEMPTS", default=6)
NOTIFY_DIGEST_HOUR = env.int("NOTIFY_DIGEST_HOUR", default=7)  # daily digests, TIME_ZONE

# --- Production hardening (`manage.py check --deploy` clean with DEBUG=False) -----------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # A load balancer checks the backend over plain HTTP: answer it, don't redirect it.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Scripts only from the portal's static files (no inline script, no eval); see
# opsportal/security.py for the default policy. Set to replace it whole.
CONTENT_SECURITY_POLICY = env.str("CONTENT_SECURITY_POLICY", default="") or None

# Deployment webhooks (docs/deployments.md). Secrets come from the environment only, never the
# database: comma-separated, so a secret can be rotated (old and new both accepted meanwhile) and
# several Vercel teams can post. The maps name the portal environment of a provider's project:
# VERCEL_PROJECTS="prj_abc=makalah-ai/prod,prj_abc:preview=makalah-ai/preview" (a target after the
# colon: production, staging or preview), RENDER_SERVICES="srv-abc=makalah-ai/prod".
VERCEL_WEBHOOK_SECRETS = env.list("VERCEL_WEBHOOK_SECRETS", default=[])
VERCEL_PROJECTS = env.dict("VERCEL_PROJECTS", default={})
# Vercel signs no timestamp header: a delivery whose createdAt is older than this is refused
# (delivery ids are remembered for longer, so a replay inside the window is refused too).
VERCEL_WEBHOOK_MAX_AGE = env.int("VERCEL_WEBHOOK_MAX_AGE", default=3600)
RENDER_WEBHOOK_SECRETS = env.list("RENDER_WEBHOOK_SECRETS", default=[])
RENDER_SERVICES = env.dict("RENDER_SERVICES", default={})
RENDER_WEBHOOK_TOLERANCE = env.int("RENDER_WEBHOOK_TOLERANCE", default=300)
# Render's webhook names neither the deploy nor its commit: the portal asks Render's API.
RENDER_API_KEY = env.str("RENDER_API_KEY", default="")
RENDER_API_URL = env.str("RENDER_API_URL", default="https://api.render.com/v1")
# A successful deployment followed this soon by a rollback run counts as a failed change.
DORA_ROLLBACK_WINDOW_HOURS = env.float("DORA_ROLLBACK_WINDOW_HOURS", default=24.0)

# Outbound HTTP for automated runbook checks: hard ceilings whatever a step asks for.
CHECK_MAX_TIMEOUT_SECONDS = env.float("CHECK_MAX_TIMEOUT_SECONDS", default=30.0)
# Total seconds one check may take (a latency check's every request and redirect included) and
# the most requests a latency check sends; runbooks/checks.py caps both again (120 s, 200).
CHECK_MAX_SECONDS = env.float("CHECK_MAX_SECONDS", default=60.0)
CHECK_LATENCY_MAX_REQUESTS = env.int("CHECK_LATENCY_MAX_REQUESTS", default=50)
# Checks never connect to loopback, link-local, private, shared, multicast or reserved addresses
# (opsportal/outbound.py) except inside these networks: comma-separated CIDRs, e.g.
# "127.0.0.0/8,::1/128" for a local demo checking a server on the same machine. Empty by default.
CHECK_ALLOWED_NETWORKS = env.list("CHECK_ALLOWED_NETWORKS", default=[])
from opsportal.outbound import parse_networks  # noqa: E402 (a typo stops the start, not a check)

parse_networks(CHECK_ALLOWED_NETWORKS)
