"""Exports of a project's inventory: ``.env.example``, Markdown and CSV tables.

No export ever contains a secret's value: secrets appear as their example (written by a person)
or as an empty assignment.
"""

from opsportal.exports import single_line

from .drift import project_environments
from .models import Project

# Then one column per environment (present / empty / missing), then owner and last rotation.
INVENTORY_HEADER = ["Variable", "Required", "Secret", "Example"]


def _per_key(project: Project):
    envs = project_environments(project)
    keys: dict[str, dict] = {}
    for env in envs:
        for var in env.variables.all():
            keys.setdefault(var.key, {})[env.pk] = var
    return envs, dict(sorted(keys.items()))


def _quote(value: str) -> str:
    if value == "" or all(c.isascii() and (c.isalnum() or c in "_-.:/@+") for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    # dotenv's double quotes know \n only: any other line break or control becomes a space,
    # so the value stays on its line whatever reads the file
    return '"' + single_line(escaped, strip=False) + '"'


def env_example(project: Project) -> str:
    """A ``.env.example``: every key, its example (never a secret's value), and comments."""
    _envs, keys = _per_key(project)
    lines = [f"# {single_line(project.name)}: environment variables ({len(keys)})", ""]
    for key, by_env in keys.items():
        vars_ = list(by_env.values())
        required = any(v.required for v in vars_)
        secret = any(v.is_secret for v in vars_)
        # one comment line, whatever the description holds (a newline would start a variable)
        description = single_line(next((v.description for v in vars_ if v.description), ""))
        example = next((v.example for v in vars_ if v.example), "")
        if not example and not secret:
            # A public value from the lowest tier is a fair example (a dev URL, a flag).
            example = next((v.value for v in vars_ if not v.is_secret and v.value), "")
        notes = ["required" if required else "optional"]
        if secret:
            notes.append("secret")
        comment = f"# {', '.join(notes)}" + (f": {description}" if description else "")
        lines.append(comment)
        lines.append(f"{key}={_quote(example)}")
        lines.append("")
    return "\n".join(lines)


def inventory_rows(project: Project) -> tuple[list[str], list[list]]:
    envs, keys = _per_key(project)
    header = INVENTORY_HEADER + [f"{e.name} ({e.get_tier_display()})" for e in envs]
    header += ["Owner", "Last rotated"]
    rows = []
    for key, by_env in keys.items():
        vars_ = list(by_env.values())
        rotated = [v.last_rotated_at for v in vars_ if v.last_rotated_at]
        rows.append(
            [
                key,
                "yes" if any(v.required for v in vars_) else "no",
                "yes" if any(v.is_secret for v in vars_) else "no",
                next((v.example for v in vars_ if v.example), ""),
                *[
                    ("yes" if by_env[e.pk].has_value else "empty") if e.pk in by_env else "missing"
                    for e in envs
                ],
                next((v.owner for v in vars_ if v.owner), ""),
                min(rotated).date().isoformat() if rotated else "",
            ]
        )
    return header, rows


def _md_cell(value) -> str:
    return single_line(value).replace("|", "\\|")


def inventory_markdown(project: Project) -> str:
    header, rows = inventory_rows(project)
    out = [
        f"# {single_line(project.name)} environment variables",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows:
        cells = [f"`{row[0]}`", *[_md_cell(c) for c in row[1:]]]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
