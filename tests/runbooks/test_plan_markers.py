"""Approval written in the plan: <!-- ops: … --> markers, parsed."""

import pytest

from runbooks.plans import PlanParseError, parse

PLAN = """# Release

## Prepare <!-- ops: second-signoff -->

- [ ] Announce the window
- [ ] Back up the database

## Ship

- [ ] Promote the build <!-- ops: second-signoff -->
- [ ] Health answers <!-- ops: check http GET https://app.example.com/healthz expect 200 -->
- [ ] Fast enough
  <!-- ops: check http GET https://app.example.com/api expect 200 p95<500ms requests 30 -->
- [ ] Env is clean <!-- ops: check env-clean; optional -->
- [ ] Import finished <!-- ops: check import-job 42 -->
- [ ] Same keys as staging <!-- ops: check env-drift 7 -->
- [ ] Latency of the search <!-- ops: check latency https://app.example.com/search p99<1.5s -->
- [ ] Body mentions ok <!-- ops: check http https://app.example.com/ contains "ok" timeout 5 -->
"""


def steps():
    return {s.title: s for s in parse(PLAN).steps()}


def test_markers_do_not_show_in_titles_or_bodies():
    for step in steps().values():
        assert "<!--" not in step.title and "<!--" not in step.body


def test_second_signoff_on_a_step_and_on_a_phase_heading():
    s = steps()
    assert s["Announce the window"].requires_second_signoff
    assert s["Back up the database"].requires_second_signoff
    assert s["Promote the build"].requires_second_signoff
    assert s["Promote the build"].markers == ["second-signoff"]
    assert not s["Health answers"].requires_second_signoff


def test_checks_map_onto_the_check_kinds():
    s = steps()
    assert (s["Health answers"].check_type, s["Health answers"].check_config) == (
        "http",
        {"url": "https://app.example.com/healthz", "expected_status": 200},
    )
    assert (s["Fast enough"].check_type, s["Fast enough"].check_config) == (
        "latency",
        {
            "url": "https://app.example.com/api",
            "expected_status": 200,
            "percentile": "p95",
            "threshold_ms": 500.0,
            "requests": 30,
        },
    )
    assert s["Latency of the search"].check_config["threshold_ms"] == 1500.0
    assert s["Latency of the search"].check_config["percentile"] == "p99"
    assert (s["Env is clean"].check_type, s["Env is clean"].required) == ("env_clean", False)
    assert s["Import finished"].check_config == {"job_id": 42}
    assert s["Same keys as staging"].check_config == {"other_environment": 7}
    assert s["Body mentions ok"].check_config == {
        "url": "https://app.example.com/",
        "contains": "ok",
        "timeout": 5.0,
        "expected_status": 200,
    }
    assert parse(PLAN).counts()["checks"] == 7


def test_markers_after_bold_and_heading_steps_and_inside_tasks():
    plan = parse(
        "# T\n\n## P\n\n**1. Promote**\n<!-- ops: second-signoff -->\n\nText.\n\n"
        "**2. Check**\n\n<!-- ops: check env-clean -->\n\n## Q\n\n### 3. Heading step\n\n"
        "<!-- ops: second-signoff -->\n\n<task>\n<name>T</name>\n<!-- ops: second-signoff -->\n"
        "</task>\n"
    )
    s = {x.title: x for x in plan.steps()}
    assert s["1. Promote"].requires_second_signoff and s["1. Promote"].body == "Text."
    assert s["2. Check"].check_type == "env_clean"
    assert s["3. Heading step"].requires_second_signoff
    assert s["T"].requires_second_signoff


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("<!-- ops: second-signof -->", r"Line 3: unknown ops marker 'second-signof'"),
        ("<!-- ops: check http POST https://x.io -->", "only send GET"),
        ("<!-- ops: check http GET ftp://x.io -->", "not an http"),
        ("<!-- ops: check latency https://x.io -->", "needs a bound"),
        ("<!-- ops: check env-drift staging -->", "id of the environment"),
        ("<!-- ops: check smtp x -->", "unknown check 'smtp'"),
        ("<!-- ops: check env-clean; check env-clean -->", "one automated check"),
    ],
)
def test_a_bad_marker_is_an_error_with_its_line(marker, message):
    with pytest.raises(PlanParseError, match=message):
        parse(f"# T\n\n- [ ] step {marker}\n")


def test_a_marker_outside_any_step_is_a_warning():
    plan = parse(
        "# T\n\n## Notes\n\n<!-- ops: second-signoff -->\nJust prose.\n\n## Do\n\n- [ ] x\n"
    )
    assert any("outside any step" in w.message for w in plan.warnings)
    assert not plan.phases[0].steps[0].requires_second_signoff


def test_other_html_comments_stay_text():
    plan = parse("# T\n\n- [ ] step\n  <!-- a note for editors -->\n")
    assert plan.phases[0].steps[0].body == "<!-- a note for editors -->"
