"""The parser's invariant on every plan of the corpus (and the team's plans in ../shared).

For each plan: boxes in the source == checklist steps in the result, every step title is one
source line, and no non-blank source line is lost (runbooks.plans.invariants.problems).
"""

from dataclasses import replace
from pathlib import Path

import pytest

from runbooks.plans import parse
from runbooks.plans.invariants import count_checkboxes, problems

ROOT = Path(__file__).resolve().parents[2]
CORPUS = sorted((ROOT / "tests" / "fixtures" / "plans").glob("*.md"))
OWN = sorted((ROOT / "runbooks" / "demo_plans").glob("*.md")) + [
    ROOT / "tests" / "fixtures" / "runbooks" / name
    for name in ("front-matter-only.md", "indonesian.md", "nested-and-code.md", "tasks.md")
]


def test_the_corpus_is_there():
    assert len([p for p in CORPUS if p.name != "README.md"]) >= 10


@pytest.mark.parametrize(
    "path", [p for p in CORPUS + OWN if p.name != "README.md"], ids=lambda p: p.name
)
def test_invariant_holds(path):
    text = path.read_text(encoding="utf-8")
    plan = parse(text, default_title=path.stem)
    assert problems(text, plan) == []
    assert plan.checkboxes_found == count_checkboxes(text)
    assert sum(1 for s in plan.steps() if s.is_checkbox) == plan.checkboxes_found
    assert plan.step_count > 0
    for phase in plan.phases:
        for i, step in enumerate(phase.steps):
            # Sub-steps follow their parent, one level deeper.
            if step.parent is not None:
                assert step.parent < i and step.depth == phase.steps[step.parent].depth + 1
            else:
                assert step.depth == 0


def test_invariant_holds_on_the_teams_plans(shared_dir):
    paths = sorted((shared_dir / "runbooks").glob("*.md"))
    assert paths
    for path in paths:
        text = path.read_text(encoding="utf-8")
        plan = parse(text, default_title=path.stem)
        assert problems(text, plan) == [], path.name
        assert sum(1 for s in plan.steps() if s.is_checkbox) == count_checkboxes(text), path.name


# --- the checker itself fails when something is lost -----------------------------------------
CONVEX = ROOT / "tests" / "fixtures" / "plans" / "convex-vercel-deploy.md"


def test_checker_reports_a_lost_body_line():
    text = CONVEX.read_text(encoding="utf-8")
    plan = parse(text)
    step = next(s for s in plan.steps() if s.title == "2.1 Run the backfill")
    step.body = step.body.replace("Start it from the dashboard; it takes about ten minutes.", "")
    found = problems(text, plan)
    assert any("is lost" in p and "ten minutes" in p for p in found)


def test_checker_reports_a_missing_checkbox_step_and_a_foreign_title():
    text = CONVEX.read_text(encoding="utf-8")
    plan = parse(text)
    phase = plan.phases[0]
    dropped = phase.steps.pop()
    assert any("13 checkboxes in the source, 12 checklist steps" in p for p in problems(text, plan))
    phase.steps.append(replace(dropped, title="Confirm something the plan never said"))
    assert any("is not on that line" in p for p in problems(text, plan))


def test_checker_reports_a_lost_command_and_lost_metadata():
    text = (ROOT / "tests" / "fixtures" / "plans" / "gsd-execute-plan.md").read_text()
    plan = parse(text)
    task = next(s for s in plan.steps() if s.title.startswith("Task 3"))
    task.commands = []
    task.verify = ""
    task.fields.pop("verify")
    plan.metadata = {**plan.metadata, "wave": 3}
    found = problems(text, plan)
    assert any("latency.js" in p for p in found)
    assert "the front matter is not the plan's metadata" in found
