"""Parsing time grows linearly with the plan (bench/runbooks_bench.py has the 2 MB figure)."""

import time

from runbooks.plans import MAX_BYTES, parse


def _plan(items: int) -> str:
    out = ["# Big plan", ""]
    for i in range(items):
        if i % 50 == 0:
            out += [f"## Phase {i // 50}", "", f"**{i // 50}.1 Group step**", "Text.", ""]
        out += [f"- [ ] item {i} with `code`", f"  - [x] nested {i}", "    more text"]
    return "\n".join(out) + "\n"


def _best(text: str) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        parse(text)
        times.append(time.perf_counter() - started)
    return min(times)


def test_parsing_time_is_linear_in_the_number_of_items():
    small, large = _plan(1500), _plan(12000)
    assert parse(large).checkboxes_found == 24000
    ratio = _best(large) / _best(small)
    # 8 times the items: linear is about 8; the old parser's square growth was about 64.
    assert ratio < 20, ratio


def test_two_megabytes_of_boxes_keep_every_box():
    """A plan at the size limit: every box a step. Its time is bench/runbooks_bench.py's figure
    (speed is measured there, not asserted here)."""
    lines, size, i = ["# Flat", "", "## Items", ""], 0, 0
    while size < MAX_BYTES - 128:
        line = f"- [ ] item number {i} with some words"
        lines.append(line)
        size += len(line) + 1
        i += 1
    text = "\n".join(lines) + "\n"
    assert len(text.encode()) <= MAX_BYTES
    plan = parse(text)
    assert plan.checkboxes_found == plan.counts()["checkbox_steps"] == i
