"""Paste a plan, see what it becomes, save it; re-import a changed plan and see the diff first."""

import pytest
from playwright.sync_api import expect

from opsportal.audit.models import AuditEvent
from runbooks.models import RunbookVersion

V1 = """# Checkout release

## Prepare

- [ ] Announce the window
- [ ] Back up the database
  ```bash
  pg_dump -Fc app > app.dump
  ```
- [ ] Check the error rate <!-- ops: second-signoff -->

## Ship

- [ ] Promote the build
  - [ ] Promote web
  - [ ] Promote worker
- [ ] Smoke test

## Rollback

Promote the **previous** build <script>window.__xss = 1</script>:

```bash
vercel rollback checkout-web
```
"""

V2 = V1.replace("- [ ] Announce the window\n", "").replace(
    "## Rollback", "## Verify\n\n- [ ] Watch the dashboards for 15 minutes\n\n## Rollback"
)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_paste_preview_save_then_reimport_with_diff(page, live_server, login, user_factory):
    operator = user_factory("operator", username="olga")
    login(operator)

    # Paste the plan: the preview shows the counts and the tree, and nothing is stored yet.
    page.goto(f"{live_server.url}/runbooks/import/")
    page.fill("#id_text", V1)
    page.click("[data-testid=preview]")
    page.wait_for_selector("[data-testid=counts]")
    assert page.inner_text("[data-testid=count-phases]") == "2"
    assert page.inner_text("[data-testid=count-steps]") == "7"
    assert page.inner_text("[data-testid=count-checkboxes]") == "7 → 7"
    assert page.inner_text("[data-testid=count-commands]") == "1"
    assert page.inner_text("[data-testid=count-second]") == "1"
    steps = page.locator("[data-testid=step] .step-title").all_inner_texts()
    assert steps == [
        "Announce the window",
        "Back up the database",
        "Check the error rate",
        "Promote the build",
        "Promote web",
        "Promote worker",
        "Smoke test",
    ]
    assert page.locator("[data-testid=step][data-depth='1']").count() == 2
    assert not RunbookVersion.objects.exists()
    assert not AuditEvent.objects.filter(action="runbook.imported").exists()

    # Save: one version, one audit event.
    page.click("[data-testid=save]")
    page.wait_for_selector("text=Imported Checkout release v1.")
    v1 = RunbookVersion.objects.get()
    event = AuditEvent.objects.get(action="runbook.imported")
    assert event.actor == operator and event.changes["version"] == 1
    assert v1.phases.count() == 2

    # The version page renders the rollback plan as Markdown, the plan's HTML as text, and gives
    # the code block a working Copy button.
    rollback = page.locator(".rollback-body")
    assert rollback.locator("strong").inner_text() == "previous"
    assert "<script>" in rollback.inner_text()
    assert page.evaluate("window.__xss") is None
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    button = rollback.locator("[data-testid=copy]")
    button.click()
    # expect() polls from Playwright's side: wait_for_function would eval() a string in the page,
    # which the portal's CSP (no 'unsafe-eval') refuses.
    expect(rollback.locator(".copy-btn")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "vercel rollback checkout-web"

    # Re-import a changed plan: the diff against v1 comes before the save.
    page.get_by_role("link", name="Import new version").click()
    page.fill("#id_text", V2)
    page.click("[data-testid=preview]")
    page.wait_for_selector("[data-testid=diff]")
    assert "Changes against v1" in page.inner_text("[data-testid=diff]")
    assert "Announce the window" in page.inner_text("[data-testid=diff-step-removed]")
    assert "Watch the dashboards for 15 minutes" in page.inner_text("[data-testid=diff-step-added]")
    assert "Verify" in page.inner_text("[data-testid=diff-phase-added]")
    page.click("[data-testid=diff] summary")
    assert "-- [ ] Announce the window" in page.inner_text("[data-testid=text-diff]")
    assert RunbookVersion.objects.count() == 1

    page.click("[data-testid=save]")
    page.wait_for_selector("text=Imported Checkout release v2.")
    v2 = RunbookVersion.objects.get(number=2)
    assert v2.runbook_id == v1.runbook_id
    events = AuditEvent.objects.filter(action="runbook.imported").order_by("seq")
    assert [e.changes["version"] for e in events] == [1, 2]
    assert events.last().actor == operator
