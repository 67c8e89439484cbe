"""docker-compose style: a service's ``environment:`` as a list (``- KEY=value``) or a map
(``KEY: value``), a whole compose file with one service that has an environment, or just the
block itself.

Values are taken as written, never as YAML types: ``PORT: 0755`` stays ``0755`` and
``DEBUG: yes`` stays ``yes`` (compose passes them on as strings). In the list form the value
is everything after the first ``=``, quotes included, as compose reads it. A key without a value
(``- KEY`` or ``KEY:``) takes its value from the shell that runs compose: it is listed as
skipped, since the file does not say what it is.
"""

import re

import yaml

from .base import Entry, ParseError, Reading, check_duplicates, check_key

_NULL = "tag:yaml.org,2002:null"
ENV_BLOCK = re.compile(r"^\s*environment:\s*$", re.M)
LIST_ITEM = re.compile(r"^\s*-\s+[A-Za-z_][A-Za-z0-9_]*(=|\s*$)")
MAP_ITEM = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*:(\s|$)")


def looks_like_compose(text: str) -> bool:
    lines = [ln for ln in text.split("\n") if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return False
    if ENV_BLOCK.search(text):
        return True
    return all(LIST_ITEM.match(ln) for ln in lines) or all(MAP_ITEM.match(ln) for ln in lines)


def _node(mapping, name):
    if isinstance(mapping, yaml.MappingNode):
        for k, v in mapping.value:
            if isinstance(k, yaml.ScalarNode) and k.value == name:
                return v
    return None


def _environment_node(root):
    """The ``environment`` node the text is about (see the module docstring)."""
    services = _node(root, "services")
    if isinstance(services, yaml.MappingNode):
        found = [
            (k.value, env)
            for k, svc in services.value
            if (env := _node(svc, "environment")) is not None
        ]
        if not found:
            raise ParseError("no service of this compose file has an environment", 1)
        if len(found) > 1:
            names = ", ".join(name for name, _ in found)
            raise ParseError(
                f"several services have an environment ({names}); paste one service's "
                "environment block",
                found[1][1].start_mark.line + 1,
            )
        return found[0][1]
    env = _node(root, "environment")
    return env if env is not None else root


def _warn_comment(reading: Reading, lines: list[str], node, key: str) -> None:
    """A plain scalar followed by `` #`` on its line: YAML dropped that text as a comment."""
    if node.style is not None or node.end_mark.line >= len(lines):
        return
    after = lines[node.end_mark.line][node.end_mark.column :]
    if after.lstrip().startswith("#"):
        reading.warn(
            node.end_mark.line + 1,
            key,
            f"the text after ' #' on this line is a YAML comment, not part of the value of "
            f"{key}; quote the value if it belongs to it",
        )


def read_compose(text: str) -> Reading:
    reading = Reading("compose")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ParseError("invalid YAML", mark.line + 1 if mark else 0) from None
    if root is None:
        raise ParseError("no variables found", 1)
    env = _environment_node(root)
    lines = text.split("\n")
    entries = []
    if isinstance(env, yaml.SequenceNode):
        for item in env.value:
            line = item.start_mark.line + 1
            if not isinstance(item, yaml.ScalarNode):
                raise ParseError("expected - KEY=value items", line)
            key, eq, value = item.value.partition("=")
            check_key(key, line)
            _warn_comment(reading, lines, item, key)
            if not eq:
                reading.skip(line, key, "no value: compose takes it from the shell")
                continue
            entries.append(Entry(key, value, line))
    elif isinstance(env, yaml.MappingNode):
        for k, v in env.value:
            line = k.start_mark.line + 1
            check_key(str(k.value), line)
            if not isinstance(v, yaml.ScalarNode):
                raise ParseError(f"the value of {k.value} must be a string, not a list", line)
            if v.tag == _NULL and v.style is None:
                reading.skip(line, k.value, "no value: compose takes it from the shell")
                continue
            _warn_comment(reading, lines, v, k.value)
            entries.append(Entry(k.value, v.value, line))
    else:
        raise ParseError("expected an environment: list or map", env.start_mark.line + 1)
    reading.entries = check_duplicates(entries)
    return reading
