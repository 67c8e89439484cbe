"""Front matter: a safe loader (no anchors, no aliases), a size cap, JSON-safe metadata."""

import time

import pytest

from runbooks.plans import PlanParseError, parse
from runbooks.plans.frontmatter import MAX_FRONT_MATTER

# The classic "billion laughs": 330 bytes that a plain YAML loader expands to millions of nodes.
ALIAS_BOMB = """---
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
---
# Plan

- [ ] step
"""


def test_an_alias_bomb_is_refused_quickly_with_a_clear_message():
    assert len(ALIAS_BOMB) < 400
    started = time.perf_counter()
    message = r"an anchor \(&a\) at line 2; anchors and aliases are not allowed"
    with pytest.raises(PlanParseError, match=message):
        parse(ALIAS_BOMB)
    assert time.perf_counter() - started < 1


def test_a_lone_alias_or_a_merge_key_is_refused():
    with pytest.raises(PlanParseError, match="anchors and aliases are not allowed"):
        parse("---\nbase: &base {a: 1}\nother:\n  <<: *base\n---\n- [ ] x\n")
    with pytest.raises(PlanParseError, match="alias"):
        parse("---\nx: *nowhere\n---\n- [ ] x\n")


def test_front_matter_over_the_cap_is_refused():
    big = "---\n" + "".join(f"key{i}: {'v' * 60}\n" for i in range(300)) + "---\n- [ ] x\n"
    assert len(big) > MAX_FRONT_MATTER
    with pytest.raises(PlanParseError, match="limited to 16 KB"):
        parse(big)


def test_deeply_nested_front_matter_is_an_error_not_a_crash():
    deep = "---\nx: " + "[" * 5000 + "]" * 5000 + "\n---\n- [ ] x\n"
    with pytest.raises(PlanParseError):
        parse(deep)


def test_dates_and_odd_keys_become_json_safe():
    plan = parse("---\ndate: 2025-11-04\nwhen: 2025-11-04 10:00:00\n1: one\n---\n- [ ] x\n")
    assert plan.metadata == {"date": "2025-11-04", "when": "2025-11-04T10:00:00", "1": "one"}


def test_invalid_and_non_mapping_front_matter():
    with pytest.raises(PlanParseError, match="not valid"):
        parse("---\ntodos: [unclosed\n---\n- [ ] a\n")
    with pytest.raises(PlanParseError, match="mapping"):
        parse("---\n- a\n- b\n---\n- [ ] a\n")
