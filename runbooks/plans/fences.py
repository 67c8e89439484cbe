"""Which fenced blocks are commands: shell only, and never a block that shows output.

- ``bash``/``sh``/``shell``/``zsh``/``ksh``/``fish``: commands, unless no line looks like a
  command (an output listing labelled ``bash``) or a database prompt (``app_production=>``,
  ``mysql>``) shows it is a session transcript;
- ``console``/``shell-session``/``terminal``: the ``$ `` (or ``% ``, ``PS …>``) lines are the
  commands, prompt stripped; the other lines are the example ``output``; no prompt, no command;
- ``powershell``/``ps1``/``pwsh`` and Windows ``cmd``/``bat``/``batch``: commands; when some
  lines carry a ``PS C:\\…>`` or ``C:\\…>`` prompt, those are the commands (prompt stripped)
  and the other lines their output;
- a block whose lines are checklist items (``- [ ] dotnet --info``) is a list written in a fence:
  never a command (GitHub shows no boxes there either), with a warning;
- no language: commands only when every line looks like one (or the block is a ``$ `` transcript);
- anything else (``sql``, ``json``, ``yaml``, ``text``, ``prisma``, ``typescript``, ``mermaid``…):
  not a command; the block stays in the step's body.
"""

from __future__ import annotations

import re

from .result import Command
from .rules import BOX_LINE_RE

SHELL_LANGS = {"bash", "sh", "shell", "zsh", "ksh", "fish", "dash"}
CONSOLE_LANGS = {"console", "shell-session", "shellsession", "terminal", "sh-session", "session"}
PS_LANGS = {"powershell", "ps1", "pwsh", "ps", "posh", "cmd", "bat", "batch", "doscon"}

_KNOWN_COMMANDS_WORDS = """
    npm npx pnpm yarn bun bunx node deno tsx ts-node corepack nvm volta
    git gh hub curl wget http httpie ssh scp rsync sftp ping dig nslookup host nc telnet openssl
    docker docker-compose podman kubectl helm k9s kustomize minikube kind terraform tofu pulumi
    ansible ansible-playbook vagrant packer
    aws gcloud gsutil az doctl flyctl fly heroku railway render vercel netlify wrangler firebase
    supabase convex prisma drizzle-kit sequelize knex typeorm
    psql pg_dump pg_dumpall pg_restore pg_basebackup pg_ctl pg_ctlcluster pg_createcluster
    pg_upgrade pg_isready createdb dropdb mysql mysqldump mysqladmin mongosh mongo mongodump
    mongorestore redis-cli sqlite3 clickhouse-client cqlsh
    python python3 pip pip3 pipx uv poetry pytest ruff black flake8 mypy django-admin manage.py
    gunicorn uvicorn celery alembic flask
    ruby gem bundle bundler rails rake rspec php composer artisan wp go cargo rustup rustc make
    cmake java mvn gradle ./gradlew ./mvnw dotnet
    cd ls ll cat less head tail grep egrep rg find xargs awk sed cut sort uniq wc tr tee echo
    printf test true false sleep watch time date env export unset source alias set
    mkdir rmdir rm cp mv ln touch chmod chown chgrp stat du df free top htop ps kill pkill
    killall pgrep lsof netstat ss ip ifconfig systemctl service journalctl crontab
    sudo su apt apt-get dpkg yum dnf apk brew snap pacman tar zip unzip gzip gunzip bzip2 xz
    jq yq base64 sha256sum shasum md5sum diff patch bash sh zsh nohup screen tmux pm2 nginx
    apachectl certbot ufw iptables firewall-cmd mount umount dd sync reboot shutdown
    logrotate exit wait read eval exec trap cron crond supervisorctl pm2-runtime
    php-fpm invoke-webrequest invoke-restmethod get-childitem set-location get-content
    set-content remove-item copy-item new-item start-process stop-process get-process
    write-host write-output test-path restart-service get-service start-service stop-service
    """
KNOWN_COMMANDS = set(_KNOWN_COMMANDS_WORDS.split())
SHELL_WORDS = {
    "if", "then", "else", "elif", "fi", "for", "do", "done", "while", "until", "case", "esac",
    "function", "{", "}", "(", ")", "[", "[[", "]]", ";;", ".", "return", "local", "declare",
    "readonly", "shift", "break", "continue", "select", "in",
}  # fmt: skip
DB_PROMPT_RE = re.compile(r"^\s*(?:[\w.-]+[=-][>#]|mysql>|sqlite>|redis[\w.:-]*>|>>?>\s)\s?")
PROMPT_RE = re.compile(
    r"^\s*(?:(?:\$|%|❯|➜\s+\S+|PS(?: [^>\n]*)?>)\s+|[A-Za-z]:\\[^>\n]*>\s*(?=\S))"
)
ASSIGN_RE = re.compile(r"^(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*=")
PATH_RE = re.compile(r"^(?:\./|\.\./|~/|/[\w.-]+/|[\w.-]+/[\w./-]*\.(?:sh|py|js|ts|rb|ps1)\b)")
PROSE_WORDS_RE = re.compile(
    r"\b(?:returns?|should|must|succeeds?|passes|shows?|displays?|responds|works|expected?|"
    r"harus|pastikan|deve|devem)\b",
    re.IGNORECASE,
)
QUOTED_RE = re.compile(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`")


def _first_word(line: str) -> str:
    words = line.split()
    while words and (ASSIGN_RE.match(words[0]) or words[0] in ("sudo", "env", "time", "nohup")):
        words = words[1:]
    return words[0] if words else ""


def is_prose(line: str) -> bool:
    bare = QUOTED_RE.sub("''", line.strip())
    if PROSE_WORDS_RE.search(bare):
        return True
    # "Run the deploy." is a sentence; "ruff format --check ." names the current directory.
    return bare.endswith(".") and not bare.endswith((" .", "..", "/.")) and len(bare.split()) >= 3


def is_command_line(line: str) -> bool:
    """Does one line look like a shell command (not prose, not output)?"""
    s = line.strip()
    if not s:
        return False
    if PROMPT_RE.match(s):
        return True
    if ASSIGN_RE.match(s) and " " not in s.split("=", 1)[0]:
        return True
    word = _first_word(s)
    if not word:
        return bool(ASSIGN_RE.match(s))
    if is_prose(s):
        return False
    low = word.lower()
    return (
        low in KNOWN_COMMANDS
        or word in SHELL_WORDS
        or bool(PATH_RE.match(word))
        or low.endswith((".sh", ".py", ".ps1"))
        or low.split("/")[-1] in KNOWN_COMMANDS
        or low.split(":")[0] in KNOWN_COMMANDS  # "npm:run" style is rare; "convex:deploy"
    )


def _lines_to_check(code: str):
    """Lines that start a command (continuations and heredoc bodies skipped), comments out."""
    heredoc = None
    continued = False
    for raw in code.split("\n"):
        s = raw.strip()
        if heredoc is not None:
            if s == heredoc:
                heredoc = None
            continue
        if continued:
            continued = s.endswith("\\")
            continue
        if not s or s.startswith("#"):
            continue
        m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", s)
        if m:
            heredoc = m.group(1)
        continued = s.endswith("\\")
        yield s


def is_shell_text(text: str) -> bool:
    """Every line is a command: used for unlabelled fences and GSD ``<verify>`` text."""
    checked = list(_lines_to_check(text))
    if not checked:
        return False
    if any(DB_PROMPT_RE.match(s) for s in checked):
        return False
    return all(is_command_line(s) for s in checked)


def _console(code: str, lang: str) -> Command | None:
    commands, output = [], []
    continuing = False
    for raw in code.split("\n"):
        m = PROMPT_RE.match(raw)
        if m:
            cmd = raw[m.end() :]
            commands.append(cmd)
            continuing = cmd.rstrip().endswith("\\")
        elif continuing:
            commands.append(raw.strip())
            continuing = raw.rstrip().endswith("\\")
        else:
            output.append(raw)
    if not commands:
        return None
    return Command(lang=lang, code="\n".join(commands), output="\n".join(output).strip("\n"))


def command(lang: str, code: str) -> tuple[Command | None, str]:
    """The block as a command, or None and why it is not one ("" when it is plainly not shell)."""
    info = (lang or "").strip().lower()
    code = code.rstrip("\n")
    if not code.strip():
        return None, ""
    if info not in ("markdown", "md", "gfm") and "[" in code:
        boxes = sum(1 for line in code.split("\n") if BOX_LINE_RE.match(line))
        if boxes:
            return None, (
                f"the ```{info or 'fence'} block holds {boxes} checklist line(s) (- [ ] …): "
                "code, not steps to sign; kept in the body"
            )
    if info in CONSOLE_LANGS:
        cmd = _console(code, info)
        return (cmd, "") if cmd else (None, f"a ```{info} block without a $ prompt is output")
    if info in PS_LANGS:
        if any(PROMPT_RE.match(line) for line in code.split("\n")):
            return _console(code, info), ""
        return Command(lang=info, code=code), ""
    if info in SHELL_LANGS:
        checked = list(_lines_to_check(code))
        if any(DB_PROMPT_RE.match(s) for s in checked):
            return None, f"the ```{info} block shows a database session (a prompt such as name=>)"
        if any(PROMPT_RE.match(s) for s in checked):
            return _console(code, info), ""
        if not any(is_command_line(s) for s in checked):
            return None, f"no line of the ```{info} block looks like a command; kept as output"
        return Command(lang=info, code=code), ""
    if info == "":
        checked = list(_lines_to_check(code))
        if checked and any(PROMPT_RE.match(s) for s in checked):
            return _console(code, ""), ""
        if is_shell_text(code):
            return Command(lang="", code=code), ""
        return None, ""
    return None, ""
