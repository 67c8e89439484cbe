"""Environment listings as the tools write them (tests/fixtures/env_shapes/, our own files
reproducing each writer's structure): each shape read to exact keys and values, recognised
without a format and named, tool bookkeeping skipped, lines where a value may not be what its
writer meant warned about, and any key/value map written by each writer read back unchanged."""

import json
import random
import re
import uuid
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from environments import parsers, parsing, services
from environments.models import Project
from environments.parsing import ParseError
from environments.views import IMPORT_SESSION_PREFIX
from opsportal.audit.models import AuditEvent

SHAPES_DIR = "env_shapes"

PEM_LEDGERLY = (
    "-----BEGIN CERTIFICATE-----\nMIIBfixtureLedgerlyCertificateBody01\n-----END CERTIFICATE-----"
)

# file -> (shape code, label, {key: value} read, skipped keys, warned lines)
EXPECTED = {
    "dotenv-variants.env": (
        "dotenv",
        ".env",
        {
            "APP_ENV": "development",
            "PORT": "4310",
            "SITE_TAGLINE": "It's live",
            "GREETING": 'Hello "friend"\tand welcome',
            "RAW_SINGLE": "no $expansion \\n here",
            "NOTIFY_FROM": "Ledgerly <noreply@ledgerly.test>",
            "SMTP_PASSWORD": "plumtree42",
            "EMPTY": "",
            "DATABASE_PASSWORD": "${POSTGRES_PASSWORD}",
            "CA_CERT": PEM_LEDGERLY,
            "SERVICE_ACCOUNT_JSON": '{"type":"service_account","project_id":"ledgerly-dev"}',
        },
        set(),
        [4, 5, 9, 15],
    ),
    "vercel-env-pull.env": (
        "vercel",
        "vercel env pull",
        {
            # Next.js reads vercel's unescaped inner quotes, and its \n as newlines.
            "FIREBASE_ADMIN_JSON": '{"type":"service_account","project_id":"ledgerly-prod",'
            '"private_key":"-----BEGIN PRIVATE KEY-----\nMIIEfixtureLedgerlyKeyBody02\n'
            '-----END PRIVATE KEY-----\n","client_email":"deploy@ledgerly-prod.iam.example"}',
            "MOTD": "Line one\nLine two",
            "NEXT_PUBLIC_API_URL": "https://api.ledgerly.app",
            "STRIPE_SECRET_KEY": "sk_live_fixtureLedgerlyStripe03",
        },
        {
            "NEXT_PUBLIC_VERCEL_URL",
            "NX_DAEMON",
            "TURBO_CACHE",
            "TURBO_DOWNLOAD_LOCAL_ENABLED",
            "TURBO_REMOTE_ONLY",
            "TURBO_RUN_SUMMARY",
            "VERCEL",
            "VERCEL_ENV",
            "VERCEL_GIT_COMMIT_REF",
            "VERCEL_GIT_COMMIT_SHA",
            "VERCEL_OIDC_TOKEN",
            "VERCEL_TARGET_ENV",
            "VERCEL_URL",
        },
        [],
    ),
    "convex-env-list.txt": (
        "convex",
        "convex env list",
        {
            "CONVEX_SITE_NAME": "Ledgerly   ",
            "JWKS": '{"keys":[{"use":"sig","kty":"RSA","n":"fixtureModulus04","e":"AQAB"}]}',
            "JWT_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nMIIEfixtureConvexJwtKeyBody05\n"
            "secondLineOfFixtureKeyBody06==\n-----END PRIVATE KEY-----",
            "SITE_URL": "https://ledgerly.app",
            "SMTP_PASSWORD": "hunter2 #9xQ!",
            "WELCOME_TEXT": 'Welcome to Ledgerly, it\'s "free" for 30 days',
        },
        set(),
        [1, 8],
    ),
    "doppler-download.env": (
        "doppler-env",
        "Doppler download (env)",
        {
            "FEATURE_FLAGS": '{"ledger_export":true}',
            "PEM_BUNDLE": "-----BEGIN CERTIFICATE-----\nMIIBfixtureDopplerCert09\n"
            "-----END CERTIFICATE-----",
            "SMTP_PASSWORD": "plumtree42 #x7Q!",
            "WINDOWS_PATH": "C:\\ledgerly\\tmp",
        },
        {"DOPPLER_CONFIG", "DOPPLER_ENVIRONMENT", "DOPPLER_PROJECT"},
        [],
    ),
    "doppler-download-no-quotes.env": (
        "doppler-raw",
        "Doppler download (env-no-quotes)",
        {
            "API_BASE": "https://api.ledgerly.app",
            "GREETING": 'Hello "friend", it\'s Ledgerly',
            "PEM_BUNDLE": "-----BEGIN CERTIFICATE-----\nMIIBfixtureDopplerRawCert12\n"
            "-----END CERTIFICATE-----",
            "SMTP_PASSWORD": "plumtree42 #x7Q!",
        },
        {"DOPPLER_CONFIG", "DOPPLER_ENVIRONMENT", "DOPPLER_PROJECT"},
        [9],
    ),
    "doppler-download.json": (
        "doppler-json",
        "Doppler download (JSON)",
        {
            "FEATURE_FLAGS": '{"ledger_export":true}',
            "PORT": "8080",
            "SMTP_PASSWORD": "plumtree42 #x7Q!",
        },
        {"DOPPLER_CONFIG", "DOPPLER_ENVIRONMENT", "DOPPLER_PROJECT"},
        [],
    ),
    "infisical-export.env": (
        "infisical-env",
        "Infisical export (dotenv)",
        {
            "APP_NAME": "Ledgerly",
            "SITE_TAGLINE": "It's live",
            "SSH_KNOWN_HOST": "ledgerly.app ssh-ed25519 AAAAfixtureHostKey10\n"
            "backup.ledgerly.app ssh-ed25519 AAAAfixtureHostKey11",
            "WINDOWS_PATH": "C:\\ledgerly\\tmp",
        },
        {"INFISICAL_API_URL"},
        [],
    ),
    "infisical-export.json": (
        "infisical-json",
        "Infisical export (JSON)",
        {
            "APP_NAME": "Ledgerly",
            "CALLBACK_URL": "https://ledgerly.app/cb?a=1&b=2",
            "NOTIFY_FROM": "Ledgerly <noreply@ledgerly.test>",
            "SITE_TAGLINE": "It's live",
        },
        set(),
        [],
    ),
    "vercel-api-env.json": (
        "vercel-api",
        "Vercel API env list",
        {
            "NEXT_PUBLIC_API_URL": "https://api.ledgerly.app",
            "FIREBASE_ADMIN_JSON": '{"type":"service_account","project_id":"ledgerly-prod"}',
            "SITE_NAME": "ledgerly #main",
        },
        {"NEXT_PUBLIC_API_URL", "STRIPE_SECRET_KEY", "TURBO_REMOTE_ONLY"},
        [],
    ),
    "render-env-group.json": (
        "render-env-group",
        "Render env group JSON",
        {
            "DATABASE_URL": "postgres://ledgerly:fixturePw07@dpg-fixture-a.oregon-postgres."
            "render.com/ledgerly",
            "LOG_FORMAT": "json # structured",
            "WEB_CONCURRENCY": "4",
        },
        {"gcp-key.json"},
        [],
    ),
    "render-service-env-vars.json": (
        "render-env-vars",
        "Render service env vars JSON",
        {
            "PYTHON_VERSION": "3.12.4",
            "REDIS_URL": "rediss://red-fixture:fixtureRedisPw08@oregon-keyvalue.render.com:6379",
            "SENTRY_RELEASE": "ledgerly@2026.11",
        },
        {"RENDER_EXTERNAL_URL"},
        [],
    ),
    "docker-compose.yml": (
        "compose",
        "docker-compose environment",
        {
            "DATABASE_URL": "postgres://ledgerly:${POSTGRES_PASSWORD}@db:5432/ledgerly",
            "LOG_LEVEL": "info",
            "GREETING": '"quoted in the list form"',
        },
        {"SENTRY_DSN"},
        [],
    ),
    "compose-environment-map.yml": (
        "compose",
        "docker-compose environment",
        {
            "FILE_MODE": "0640",
            "FEATURE_EXPORT": "yes",
            "SUPPORT_EMAIL": "help@ledgerly.test",
            "BANNER": "It's live # not a comment",
            "LOG_LEVEL": "debug",
        },
        {"UPSTREAM_TOKEN"},
        [6],
    ),
}


def read_fixture(fixtures_dir, name):
    return parsing.decode((fixtures_dir / SHAPES_DIR / name).read_bytes())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_shape_read_to_exact_values_without_a_format(fixtures_dir, name):
    shape, label, values, skipped, warned = EXPECTED[name]
    reading = parsing.read(read_fixture(fixtures_dir, name), target="production")
    assert (reading.shape, reading.label) == (shape, label)
    assert {e.key: e.value for e in reading.entries} == values
    assert {s["key"] for s in reading.skipped} == skipped
    assert sorted({w["line"] for w in reading.warnings}) == warned
    for note in reading.skipped + reading.warnings:
        # Neither a skipped line nor a warning ever carries a value.
        for value in values.values():
            if len(value) > 3:
                assert value not in json.dumps(note)


def test_line_numbers_name_the_line_of_each_variable(fixtures_dir):
    lines = {
        e.key: e.line
        for e in parsing.read(read_fixture(fixtures_dir, "dotenv-variants.env")).entries
    }
    assert lines["APP_ENV"] == 3 and lines["CA_CERT"] == 12 and lines["SERVICE_ACCOUNT_JSON"] == 15
    convex = parsing.read(read_fixture(fixtures_dir, "convex-env-list.txt")).entries
    assert [(e.key, e.line) for e in convex][2:4] == [("JWT_PRIVATE_KEY", 3), ("SITE_URL", 7)]


def test_the_markdown_table_is_recognised(fixtures_dir):
    reading = parsing.read(read_fixture(fixtures_dir, "inventory.md"))
    assert reading.label == "Markdown table"
    assert [(d.key, d.required, d.line) for d in reading.entries] == [
        ("NEXT_PUBLIC_API_URL", True, 5),
        ("SMTP_PASSWORD", True, 6),
        ("LOG_LEVEL", False, 7),
    ]


def test_a_comment_cutting_a_value_is_warned_about_on_its_line():
    reading = parsing.read("# mail\nSMTP_PASSWORD=hunter2 #9xQ!\nSMTP_USER=mailer\n")
    assert {e.key: e.value for e in reading.entries}["SMTP_PASSWORD"] == "hunter2"
    assert [(w["line"], w["key"]) for w in reading.warnings] == [(2, "SMTP_PASSWORD")]
    assert "read as a comment" in reading.warnings[0]["message"]
    assert "9xQ" not in json.dumps(reading.warnings) and "hunter2" not in json.dumps(
        reading.warnings
    )


def test_a_bare_listing_with_a_hash_is_read_whole_as_convex_prints_it():
    reading = parsing.read("SMTP_PASSWORD=hunter2 #9xQ!\nSMTP_USER=mailer\n")
    assert reading.label == "convex env list"
    assert {e.key: e.value for e in reading.entries}["SMTP_PASSWORD"] == "hunter2 #9xQ!"
    assert [w["line"] for w in reading.warnings] == [1]
    assert "9xQ" not in json.dumps(reading.warnings)
    # Forced to .env, the comment rule applies, and says so.
    forced = parsing.read("SMTP_PASSWORD=hunter2 #9xQ!\n", "dotenv")
    assert forced.entries[0].value == "hunter2" and forced.warnings


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("SITE_TAGLINE='It's live' # the tagline, it's short", "It's live"),
        ('SA_JSON="{"type":"service_account"}" # from the console', '{"type":"service_account"}'),
        ('THEME_JSON="{"accent":"#0af"}" # brand', '{"accent":"#0af"}'),
    ],
)
def test_a_value_with_inner_quotes_and_a_comment_is_read_as_node_reads_it(line, value):
    for text in (f"# hand-written\n{line}\nB=2\n", f"{line}\nB=2\n"):  # .env, bare listing
        reading = parsing.read(text)
        assert reading.shape == "dotenv"
        assert {e.key: e.value for e in reading.entries} == {line.split("=")[0]: value, "B": "2"}
        [warning] = reading.warnings
        assert warning["line"] == text.count("\n", 0, text.index(line)) + 1
        assert "comment after it" in warning["message"]
        assert value not in json.dumps(reading.warnings)
        assert ("cut it at its first '#'" in warning["message"]) == ("#" in value)


@pytest.mark.parametrize(
    "text",
    [
        "NOTES=Release notes\n# Highlights\nfaster imports\nSITE_URL=https://ledgerly.app\n",
        "RUNBOOK=step one\nexport PATH first\nSITE_URL=https://ledgerly.app\n",
        "GREETING='Welcome aboard\nSITE_URL=https://ledgerly.app\n",
    ],
)
def test_a_convex_list_a_dotenv_reading_refuses_names_the_convex_format(text):
    with pytest.raises(ParseError) as info:
        parsing.read(text)
    assert "import it with format convex" in info.value.message
    reading = parsing.read(text, "convex")
    assert [e.key for e in reading.entries][-1] == "SITE_URL"
    assert "".join(f"{e.key}={e.value}\n" for e in reading.entries) == text


def test_a_dotenv_mistake_gets_no_convex_hint():
    for text in ("# local\nA=1\njust words\n", "A=1\nMY-KEY=2\n"):
        with pytest.raises(ParseError) as info:
            parsing.read(text)
        assert "convex" not in info.value.message


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ('A="x y"\nB=2\n', "dotenv"),  # quoted values: a .env
        ("A=1\n\nB=2\n", "dotenv"),  # blank lines between variables: a .env
        ("A=1\nB=2\n", "dotenv"),  # the same either way
        ("PEM=-----BEGIN-----\nbody\n-----END-----\nB=1\n", "convex"),  # a continuation line
        ("A=1\nMY-KEY=2\n", None),  # a mistyped name is still an error
        ('A=1\nB="never closed\nC=3\n', None),  # and an unclosed quote
    ],
)
def test_bare_listings_are_told_apart(text, shape):
    if shape is None:
        with pytest.raises(ParseError):
            parsing.read(text)
    else:
        assert parsing.read(text).shape == shape


def test_tool_bookkeeping_is_kept_on_request(fixtures_dir):
    text = read_fixture(fixtures_dir, "vercel-env-pull.env")
    kept = parsing.read(text, keep_tool_vars=True)
    assert not kept.skipped
    assert {"VERCEL_ENV", "TURBO_CACHE", "NX_DAEMON"} <= {e.key for e in kept.entries}


@pytest.mark.parametrize(
    ("key", "skipped"),
    [
        ("VERCEL_ENV", True),
        ("VERCEL_GIT_PULL_REQUEST_ID", True),
        ("NEXT_PUBLIC_VERCEL_ENV", True),
        ("TURBO_TEAM", True),
        ("NX_DAEMON", True),
        ("DOPPLER_CONFIG", True),
        ("INFISICAL_API_URL", True),
        ("RENDER_GIT_COMMIT", True),
        # Credentials and names a team chose are configuration.
        ("DOPPLER_TOKEN", False),
        ("INFISICAL_TOKEN", False),
        ("VERCEL_API_TOKEN", False),
        ("NEXT_PUBLIC_CONVEX_URL", False),
    ],
)
def test_which_variables_are_bookkeeping(key, skipped):
    assert bool(parsing.bookkeeping_reason(key)) is skipped


@pytest.mark.parametrize(
    "text",
    [
        "DATABASE_PASSWORD=${POSTGRES_PASSWORD}\nOTHER=$POSTGRES_USER\n",
        'DATABASE_PASSWORD="${POSTGRES_PASSWORD}"\nOTHER="$POSTGRES_USER"\n',
        "# Created by Vercel CLI\n"
        'DATABASE_PASSWORD="${POSTGRES_PASSWORD}"\nOTHER="$POSTGRES_USER"\n',
        '{"DATABASE_PASSWORD": "${POSTGRES_PASSWORD}", "OTHER": "$POSTGRES_USER"}',
        "environment:\n  DATABASE_PASSWORD: ${POSTGRES_PASSWORD}\n  OTHER: $POSTGRES_USER\n",
    ],
)
def test_references_pass_through_unexpanded(text):
    # dotenv-expand expands both ${X} and $X; python-dotenv only ${X}. Reading expands neither.
    values = {e.key: e.value for e in parsing.read(text).entries}
    assert values == {"DATABASE_PASSWORD": "${POSTGRES_PASSWORD}", "OTHER": "$POSTGRES_USER"}


def test_vercel_api_list_needs_a_target_when_a_key_has_several(fixtures_dir):
    text = read_fixture(fixtures_dir, "vercel-api-env.json")
    with pytest.raises(ParseError, match="NEXT_PUBLIC_API_URL is listed once per Vercel target"):
        parsing.read(text)
    preview = parsing.read(text, target="preview")
    assert {e.key: e.value for e in preview.entries}["NEXT_PUBLIC_API_URL"] == (
        "https://api.preview.ledgerly.app"
    )
    reasons = {s["reason"] for s in preview.skipped if s["key"] == "NEXT_PUBLIC_API_URL"}
    assert reasons == {
        "set for Vercel target production, not preview",
        "for git branch feature/ledger-export only",
    }


def test_render_list_of_groups_is_refused_with_a_reason():
    text = json.dumps([{"envGroup": {"id": "evg-x", "name": "shared"}, "cursor": "c"}])
    with pytest.raises(ParseError, match="carries no values"):
        parsing.read(text)


def test_format_stays_an_override():
    text = "SMTP_PASSWORD=hunter2 #9xQ!\nSITE_URL=https://ledgerly.app\n"
    assert parsing.read(text).shape == "convex"
    as_dotenv = parsing.read(text, "dotenv")
    assert as_dotenv.shape == "dotenv"
    assert {e.key: e.value for e in as_dotenv.entries}["SMTP_PASSWORD"] == "hunter2"
    with pytest.raises(ParseError, match="not a vercel-api listing"):
        parsing.read('{"A": "1"}', "vercel-api")


def test_old_import_path_still_works():
    assert parsers.parse("A=1\n") == [parsers.Entry("A", "1", 1)]
    assert parsers.detect_format('# Created by Vercel CLI\nA="1"\n') == "vercel"


# --- writers: any map written by each tool's writer reads back the same ------------------------
ALPHABET = [*"abcXYZ019 _-=#'\"`\\${}:/|,.\t", "é", "ß", "漢", "😀", "\n", "\n", " #"]
START = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
MISTYPED = re.compile(r"^\s*(?:export\s+)?[A-Za-z0-9_.-]{1,64}\s*=\s*[^=\s]")


def random_map(rng: random.Random, n: int) -> dict:
    keys = {
        f"K{i}_{''.join(rng.choice('ABCDEFGHXYZ019_') for _ in range(rng.randint(0, 8)))}"
        for i in range(n)
    }
    return {k: "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 24))) for k in keys}


def _dq(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def write_dotenv(m):  # python-dotenv's double-quoted syntax
    return "".join(f'{k}="{_dq(v).replace(chr(13), chr(92) + "r")}"\n' for k, v in m.items())


def write_vercel(m):  # vercel env pull (escapeValue: \n and \r only), sorted keys
    body = "\n".join(
        f'{k}="{m[k].replace(chr(10), chr(92) + "n").replace(chr(13), chr(92) + "r")}"'
        for k in sorted(m)
    )
    return "# Created by Vercel CLI\n" + body + "\n"


def write_convex(m):  # npx convex env list: `${name}=${value}` per variable
    return "".join(f"{k}={v}\n" for k, v in m.items())


DOPPLER_CONTEXT = {"DOPPLER_CONFIG": "prd", "DOPPLER_ENVIRONMENT": "prd", "DOPPLER_PROJECT": "p"}


def write_doppler_env(m):  # Doppler's MapToEnvFormat: \ and " escaped, sorted lines
    both = {**DOPPLER_CONTEXT, **m}
    return "\n".join(sorted(f'{k}="{_dq(v)}"' for k, v in both.items()))


def write_doppler_raw(m):  # MapToEnvFormat without quotes (env-no-quotes, docker): raw, sorted
    both = {**DOPPLER_CONTEXT, **m}
    return "\n".join(sorted(f"{k}={v}" for k, v in both.items()))


def write_doppler_json(m):
    return json.dumps({**DOPPLER_CONTEXT, **m}, separators=(",", ":"))


def write_infisical_env(m):  # infisical export: KEY='value', nothing escaped, sorted
    return "".join(f"{k}='{m[k]}'\n" for k in sorted(m))


def write_infisical_json(m):  # Go's json.Marshal of the secrets
    items = [
        {"key": k, "workspace": "w", "value": v, "type": "shared", "_id": str(n), "tags": None}
        for n, (k, v) in enumerate(sorted(m.items()))
    ]
    text = json.dumps(items, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_vercel_api(m):
    envs = [
        {
            "type": "encrypted",
            "value": v,
            "target": ["production", "preview"],
            "key": k,
            "decrypted": True,
        }
        for k, v in m.items()
    ]
    return json.dumps({"envs": envs, "pagination": {"count": len(envs)}}, indent=2)


def write_render_group(m):
    pairs = [{"key": k, "value": v} for k, v in m.items()]
    return json.dumps({"id": "evg-x", "name": "g", "envVars": pairs, "secretFiles": []}, indent=2)


def write_render_service(m):
    return json.dumps([{"envVar": {"key": k, "value": v}, "cursor": k} for k, v in m.items()])


def write_compose(m):
    doc = {"services": {"api": {"image": "ledgerly/api", "environment": m}}}
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _no_cr(v):
    return "\r" not in v


def _continuations(v):
    return v.split("\n")[1:]


# shape -> (writer, values the writer can express unambiguously, values auto-detection reads back)
WRITERS = {
    "dotenv": (write_dotenv, lambda v: True, lambda v: True),
    # vercel escapes newlines as \n but not backslashes: a value with a backslash is ambiguous.
    "vercel": (write_vercel, lambda v: "\\" not in v, lambda v: "\\" not in v),
    # convex prints raw: a continuation line that looks like NAME=, a CR, or a value of only '='
    # after a multi-line value (read as base64 padding) cannot be told apart. Recognising a
    # listing without being told also needs no value that reads as a .env mistake or as a
    # quoted .env value.
    "convex": (
        write_convex,
        lambda v: (
            _no_cr(v)
            and v.strip("=") != ""
            and not any(START.match(ln) for ln in _continuations(v))
        ),
        lambda v: (
            _no_cr(v)
            and v.strip("=") != ""
            and not any(
                START.match(ln) or MISTYPED.match(ln) or ln.startswith(("#", "export "))
                for ln in _continuations(v)
            )
            and not v.endswith("\n")
            and v[:1] not in ("'", '"')
        ),
    ),
    "doppler-env": (
        write_doppler_env,
        _no_cr,
        lambda v: _no_cr(v) and not any(START.match(ln) for ln in _continuations(v)),
    ),
    # doppler-raw: as convex, and the download has no final newline after the last value.
    "doppler-raw": (
        write_doppler_raw,
        lambda v: WRITERS["convex"][1](v) and not v.endswith("\n"),
        lambda v: WRITERS["convex"][2](v),
    ),
    "doppler-json": (write_doppler_json, lambda v: True, lambda v: True),
    "infisical-env": (
        write_infisical_env,
        lambda v: (
            _no_cr(v)
            and not any(re.match(r"^(export )?[A-Za-z_]\w*='", ln) for ln in _continuations(v))
        ),
        lambda v: (
            _no_cr(v)
            and not any(re.match(r"^(export )?[A-Za-z_]\w*='", ln) for ln in _continuations(v))
        ),
    ),
    "infisical-json": (write_infisical_json, lambda v: True, lambda v: True),
    "vercel-api": (write_vercel_api, lambda v: True, lambda v: True),
    "render-env-group": (write_render_group, lambda v: True, lambda v: True),
    "render-env-vars": (write_render_service, lambda v: True, lambda v: True),
    "compose": (write_compose, lambda v: True, lambda v: True),
}


def maps_for(shape, auto, seed, count=150):
    """Seeded random maps (quotes, '#', '=', spaces, tabs, newlines, unicode) a writer can
    express; with ``auto``, those whose shape is also recognised without being named."""
    _writer, expressible, detectable = WRITERS[shape]
    keep = detectable if auto else expressible
    rng = random.Random(f"{shape}-{auto}-{seed}")
    for _ in range(count):
        m = {k: v for k, v in random_map(rng, rng.randint(1, 6)).items() if keep(v)}
        if m:
            yield m


@pytest.mark.parametrize("shape", sorted(WRITERS))
def test_any_map_written_in_a_shape_reads_back_the_same(shape):
    writer = WRITERS[shape][0]
    for m in maps_for(shape, auto=False, seed=1):
        text = writer(m)
        reading = parsing.read(text, shape, target="production")
        assert {e.key: e.value for e in reading.entries} == m, text


@pytest.mark.parametrize("shape", sorted(WRITERS))
def test_any_map_written_in_a_shape_is_recognised_and_reads_back(shape):
    writer = WRITERS[shape][0]
    for m in maps_for(shape, auto=True, seed=2):
        text = writer(m)
        reading = parsing.read(text, target="production")
        assert {e.key: e.value for e in reading.entries} == m, text
        if shape not in ("convex", "doppler-raw"):
            # A raw listing whose values a .env reading gives back unchanged may be named .env.
            assert reading.shape == shape, text


# --- the command and the pages ----------------------------------------------------------------
def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_env_import_dry_run_json_reads_every_shape_without_format(users, fixtures_dir, name):
    shape, label, values, skipped, warned = EXPECTED[name]
    path = fixtures_dir / SHAPES_DIR / name
    out = run(
        "env_import", str(path), "--project", "ledgerly", "--environment", "prod",
        "--as", "otto", "--dry-run", "--json",
    )  # fmt: skip
    data = json.loads(out)
    assert (data["format"], data["read_as"]) == (shape, label)
    assert {c["key"] for c in data["added"]} == set(values)
    assert {s["key"] for s in data["skipped"]} == skipped
    assert sorted({w["line"] for w in data["warnings"]}) == warned
    assert data["created"] == ["project", "environment"] and data["dry_run"] is True
    assert not Project.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_env_import_keep_tool_vars_and_text_report(users, fixtures_dir):
    path = fixtures_dir / SHAPES_DIR / "vercel-env-pull.env"
    args = ("env_import", str(path), "--project", "ledgerly", "--environment", "prod")
    kept = json.loads(run(*args, "--as", "otto", "--dry-run", "--json", "--keep-tool-vars"))
    assert not kept["skipped"] and "VERCEL_ENV" in {c["key"] for c in kept["added"]}
    text = run(*args, "--as", "otto", "--dry-run")
    assert "read as: vercel env pull" in text
    assert "skipped VERCEL_ENV (line 13): tool bookkeeping: a Vercel system variable" in text
    assert "fixtureLedgerlyStripe03" not in text


@pytest.mark.django_db
def test_import_page_names_the_shape_warns_and_lists_what_it_skipped(users, dev, fixtures_dir):
    client = Client()
    client.force_login(users["operator"])
    url = reverse("environments:env_import", args=[dev.pk])
    text = read_fixture(fixtures_dir, "vercel-env-pull.env") + "SMTP_PASSWORD=plumtree42 #x7Q!\n"
    response = client.post(url, {"text": text, "format": "auto"}, follow=True)
    page = response.content.decode()
    assert "Read as: <strong>vercel env pull</strong>" in page
    # The line added by hand is read as a .env line, with its warning.
    assert 'data-testid="import-warnings"' in page and "line 19:" in page
    assert "VERCEL_OIDC_TOKEN" in page and "tool bookkeeping" in page
    for value in ("x7Q!", "fixtureLedgerlyStripe03", "plumtree42"):
        assert value not in page
    added = {c["key"] for c in _stored_preview(client)["added"]}
    assert "VERCEL_ENV" not in added and "SMTP_PASSWORD" in added

    kept = client.post(url, {"text": text, "format": "auto", "keep_tool_vars": "on"}, follow=True)
    assert kept.status_code == 200
    assert "VERCEL_ENV" in {c["key"] for c in _stored_preview(client)["added"]}
    assert not AuditEvent.objects.filter(action__startswith="configvar").exists()


def _stored_preview(client):
    session = client.session
    (key,) = [k for k in session.keys() if k.startswith(IMPORT_SESSION_PREFIX)]  # noqa: SIM118
    return session[key]["preview"]


@pytest.mark.django_db
def test_preview_shows_a_reference_as_such(users, dev):
    client = Client()
    client.force_login(users["operator"])
    token = uuid.uuid4().hex
    after = {
        "is_secret": False,
        "value_kind": "reference",
        "detail": "POSTGRES_PASSWORD",
        "hint": "",
        "fingerprint": "",
        "kind_label": "Reference to another variable",
        "value": "${POSTGRES_PASSWORD}",
        "required": False,
    }
    plan = services.ImportPlan(environment_id=dev.pk, fmt="dotenv", payload={"vars": [{}]})
    preview = {**plan.as_dict(), "read_as": ".env"}
    preview["added"] = [
        {
            "op": "create",
            "key": "DATABASE_PASSWORD",
            "before": None,
            "after": {**after, "fingerprint": "f" * 16},
        }
    ]
    session = client.session
    session[IMPORT_SESSION_PREFIX + token] = {
        "environment": dev.pk,
        "payload": plan.payload,
        "preview": preview,
        "reason": "",
    }
    session.save()
    page = client.get(reverse("environments:env_import_preview", args=[dev.pk, token]))
    assert "reference to <code>POSTGRES_PASSWORD</code>" in page.content.decode()
