"""The parsers are pure functions: text in, entries or a ParseError naming the line out."""

import json

import pytest

from environments import parsers
from environments.parsers import Entry, ParseError


def kv(entries):
    return {e.key: e.value for e in entries}


def test_dotenv_comments_export_quotes_escapes_and_multiline():
    text = (
        "# a comment\n"
        "\n"
        "PLAIN=value # trailing comment\n"
        "export EXPORTED=yes\n"
        "SINGLE='no $expansion \\n here'\n"
        'DOUBLE="tab\\there \\"quoted\\""\n'
        'MULTI="-----BEGIN KEY-----\n'
        "abc\n"
        '-----END KEY-----"\n'
        "EMPTY=\n"
        "HASH_IN_QUOTES='a # b'\n"
        "SPACES = spaced value \n"
    )
    entries = parsers.parse_dotenv(text)
    assert kv(entries) == {
        "PLAIN": "value",
        "EXPORTED": "yes",
        "SINGLE": "no $expansion \\n here",
        "DOUBLE": 'tab\there "quoted"',
        "MULTI": "-----BEGIN KEY-----\nabc\n-----END KEY-----",
        "EMPTY": "",
        "HASH_IN_QUOTES": "a # b",
        "SPACES": "spaced value",
    }
    assert [e.line for e in entries] == [3, 4, 5, 6, 7, 10, 11, 12]


def test_dotenv_crlf_line_endings():
    assert kv(parsers.parse_dotenv("A=1\r\nB='x'\r\n")) == {"A": "1", "B": "x"}


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("A=1\nB=2\nA=3\n", 3, "duplicate variable A (first defined on line 1)"),
        ("A=1\n1BAD=2\n", 2, "invalid variable name '1BAD'"),
        ("A=1\nMY-KEY=2\n", 2, "invalid variable name 'MY-KEY'"),
        ('A=1\nB="open\nstill open\n', 2, 'unterminated " quote in the value of B'),
        ("A=1\nC='x\n", 2, "unterminated ' quote"),
        ("A=1\njust words\n", 2, "expected KEY=value"),
        ('A="x" trailing\n', 1, "unexpected text after the quoted value of A"),
    ],
)
def test_dotenv_errors_name_the_line(text, line, fragment):
    with pytest.raises(ParseError) as info:
        parsers.parse_dotenv(text)
    assert info.value.line == line
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"line {line}:")


def test_convex_env_list_takes_values_raw_and_joins_continuation_lines():
    text = (
        "CLERK_ISSUER_URL=https://sharing-crow-12.clerk.accounts.dev\n"
        'QUOTED="kept as is"\n'
        "PEM=-----BEGIN-----\n"
        "line two\n"
        "SITE_URL=http://localhost:3000\n"
    )
    assert kv(parsers.parse_convex(text)) == {
        "CLERK_ISSUER_URL": "https://sharing-crow-12.clerk.accounts.dev",
        "QUOTED": '"kept as is"',
        "PEM": "-----BEGIN-----\nline two",
        "SITE_URL": "http://localhost:3000",
    }


def test_convex_rejects_garbage_before_the_first_variable():
    with pytest.raises(ParseError) as info:
        parsers.parse_convex("\nnot a variable\nA=1\n")
    assert info.value.line == 2


def test_vercel_pull_drops_vercel_system_variables():
    text = (
        "# Created by Vercel CLI\n"
        'VERCEL="1"\n'
        'VERCEL_ENV="production"\n'
        'VERCEL_OIDC_TOKEN="eyJhbGciOi.x.y"\n'
        'TURBO_CACHE="remote:rw"\n'
        'NEXT_PUBLIC_CONVEX_URL="https://basic-oriole-337.convex.cloud"\n'
    )
    assert parsers.detect_format(text) == "vercel"
    assert kv(parsers.parse(text)) == {
        "NEXT_PUBLIC_CONVEX_URL": "https://basic-oriole-337.convex.cloud"
    }


def test_json_object_with_scalars():
    text = json.dumps({"A": "x", "PORT": 8080, "DEBUG": False, "NOTHING": None}, indent=2)
    assert parsers.detect_format(text) == "json"
    entries = parsers.parse(text)
    assert kv(entries) == {"A": "x", "PORT": "8080", "DEBUG": "false", "NOTHING": ""}
    assert entries[1] == Entry("PORT", "8080", 3)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('{"A": "x",\n "A": "y"}', 2, "duplicate variable A"),
        ('{"A": {"nested": 1}}', 1, "must be a string"),
        ('{"A": "x",\n}', 2, "invalid JSON"),
        ('["A"]', 1, "expected a JSON object"),
        ('{\n"bad key": "x"}', 2, "invalid variable name"),
    ],
)
def test_json_errors(text, line, fragment):
    with pytest.raises(ParseError) as info:
        parsers.parse(text, "json")
    assert info.value.line == line
    assert fragment in str(info.value)


def test_decode_accepts_utf8_and_strips_bom():
    assert parsers.decode("\ufeffA=é\n".encode()) == "A=é\n"


@pytest.mark.parametrize(
    ("data", "line", "fragment"),
    [
        ("A=1\n".encode("utf-16"), 1, "UTF-16"),
        (b"A=1\nB=\x00\x01\x02\n", 2, "binary data"),
        (b"A=1\nB=\xff\xfe\xfa\n", 2, "not valid UTF-8"),
    ],
)
def test_decode_refuses_non_text(data, line, fragment):
    with pytest.raises(ParseError) as info:
        parsers.decode(data)
    assert info.value.line == line
    assert fragment in str(info.value)


def test_decode_refuses_large_files():
    with pytest.raises(ParseError, match="limit is 1,048,576 bytes"):
        parsers.decode(b"A=1\n" * (20 * 1024 * 1024 // 4))


def test_unknown_format():
    with pytest.raises(ParseError, match="unknown format"):
        parsers.parse("A=1", "yaml")


@pytest.mark.parametrize(
    "text",
    [
        "A=1\nsk_live_PASTEDbyMISTAKE0123456789\n",
        "A=1\nexport sk_live_PASTEDbyMISTAKE0123456789 =x\n",
        "A=1\nTOKEN sk_live_PASTEDbyMISTAKE0123456789\n",
    ],
)
def test_errors_never_echo_a_pasted_secret(text):
    with pytest.raises(ParseError) as info:
        parsers.parse_dotenv(text)
    assert info.value.line == 2
    assert "PASTEDbyMISTAKE" not in str(info.value)


TEAM_TABLE = """# Environment variables

Some prose before the table.

| Variable | Required | Example | Description |
|----------|:--------:|---------|-------------|
| `NEXT_PUBLIC_CONVEX_URL` | ✅ | `https://your-deployment.convex.cloud` | Convex client URL |
| `CLERK_SECRET_KEY` | Yes | `sk_test_...` | Clerk backend key |
| CSRF_SECRET | no |  | 32 random bytes, pipe \\| escaped |

After the table.
"""


def test_markdown_inventory_table():
    assert parsers.detect_format(TEAM_TABLE) == "markdown"
    rows = parsers.parse(TEAM_TABLE)
    assert [(d.key, d.required, d.example, d.line) for d in rows] == [
        ("NEXT_PUBLIC_CONVEX_URL", True, "https://your-deployment.convex.cloud", 7),
        ("CLERK_SECRET_KEY", True, "sk_test_...", 8),
        ("CSRF_SECRET", False, "", 9),
    ]
    assert rows[2].description == "32 random bytes, pipe | escaped"


@pytest.mark.parametrize(
    ("table", "line", "fragment"),
    [
        (
            "| Variable | Required |\n|---|---|\n| A | yes |\n| A | no |\n",
            4,
            "duplicate variable A",
        ),
        ("| Variable | Required |\n|---|---|\n| BAD-NAME | yes |\n", 3, "invalid variable name"),
        ("| Variable | Required |\n|---|---|\n| A | perhaps |\n", 3, "use yes or no"),
        (
            "| Variable | Example |\n|---|---|\n| K | sk_live_REALkey0123456789 |\n",
            3,
            "looks like a real credential",
        ),
        ("| Name | Age |\n|---|---|\n", 1, "the table has no rows"),
        ("| Col | Other |\n|---|---|\n| a | b |\n", 0, "no Markdown table with a Variable"),
    ],
)
def test_markdown_table_errors(table, line, fragment):
    with pytest.raises(ParseError) as info:
        parsers.parse(table, "markdown")
    assert info.value.line == line
    assert fragment in str(info.value)
    assert "REALkey" not in str(info.value)
