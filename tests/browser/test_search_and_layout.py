"""Global search with the keyboard, and wide tables at 400 px (the variable matrix)."""

import pytest

from tests.environments.factories import ConfigVarFactory
from tests.factories import EnvironmentFactory, ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _errors(page):
    found = []
    page.on("console", lambda m: found.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: found.append(str(exc)))
    return found


def test_search_from_the_keyboard_lands_on_the_result(page, live_server, login, user_factory):
    viewer = user_factory("viewer", username="vera")
    project = ProjectFactory(name="Makalah AI", slug="makalah-ai")
    prod = EnvironmentFactory(project=project, name="prod", tier="production")
    ConfigVarFactory(environment=prod, key="STRIPE_SECRET_KEY")
    errors = _errors(page)

    login(viewer)
    page.keyboard.press("/")  # focuses the navigation's search box
    box = page.get_by_test_id("nav-search")
    assert box.evaluate("el => el === document.activeElement")
    page.keyboard.type("stripe_sec")
    results = page.locator("#nav-search-results")
    hit = results.locator("a.search-hit").first
    hit.wait_for(state="visible")
    assert "variable keys" in results.inner_text().lower()
    assert "STRIPE_SECRET_KEY" in hit.inner_text()

    page.keyboard.press("ArrowDown")
    assert hit.evaluate("el => el === document.activeElement")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}{prod.get_absolute_url()}*")
    assert page.get_by_role("heading").first.is_visible()

    # Ctrl-K from anywhere (even while typing elsewhere) focuses the box again; Escape closes
    page.keyboard.press("Control+k")
    assert box.evaluate("el => el === document.activeElement")
    page.keyboard.type("makalah")
    results.locator("a.search-hit").first.wait_for(state="visible")
    page.keyboard.press("Escape")
    assert results.is_hidden()

    # Enter without choosing a result opens the results page, navigable the same way
    page.keyboard.press("Enter")
    page.wait_for_url("**/search/?q=makalah")
    assert page.get_by_role("heading", name="Search").is_visible()
    page.keyboard.press("/")
    page_box = page.get_by_test_id("search-page-input")
    assert page_box.evaluate("el => el === document.activeElement")
    page.keyboard.press("ArrowDown")
    first = page.locator("#page-search-results a.search-hit").first
    assert first.evaluate("el => el === document.activeElement")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    assert first.evaluate("el => el === document.activeElement")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}{project.get_absolute_url()}")
    assert errors == []


def test_the_matrix_at_400px_scrolls_inside_its_wrapper_with_the_key_column_in_view(
    browser, live_server, user_factory
):
    from tests.factories import PASSWORD

    viewer = user_factory("viewer", username="vera")
    project = ProjectFactory(name="Makalah AI", slug="makalah-ai")
    for i, tier in enumerate(["development", "preview", "staging", "production"] * 2):
        env = EnvironmentFactory(project=project, name=f"{tier}-{i}", tier=tier)
        for key in ("DATABASE_URL", "NEXT_PUBLIC_CONVEX_URL", "STRIPE_SECRET_KEY"):
            ConfigVarFactory(environment=env, key=key)

    context = browser.new_context(viewport={"width": 400, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", viewer.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        page.goto(f"{live_server.url}{project.get_absolute_url()}")

        # the page itself does not scroll sideways
        page_width = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert page_width[0] <= page_width[1], page_width
        wrapper = page.locator("#matrix")
        scroll, client = wrapper.evaluate("el => [el.scrollWidth, el.clientWidth]")
        assert scroll > client  # the table is wider than the screen: it scrolls in its wrapper

        key_cell = page.locator(
            '[data-testid="matrix"] tbody tr[data-key="STRIPE_SECRET_KEY"] td'
        ).first
        other_cell = page.locator(
            '[data-testid="matrix"] tbody tr[data-key="STRIPE_SECRET_KEY"] td'
        ).nth(3)
        box = wrapper.bounding_box()
        before_key, before_other = key_cell.bounding_box(), other_cell.bounding_box()
        assert (
            before_key["x"] >= box["x"] - 1
            and before_key["x"] + before_key["width"] <= box["x"] + box["width"]
        )

        wrapper.evaluate("el => { el.scrollLeft = 400; }")
        page.wait_for_function("() => document.getElementById('matrix').scrollLeft > 0")
        after_key, after_other = key_cell.bounding_box(), other_cell.bounding_box()
        assert after_other["x"] < before_other["x"] - 100  # the other columns moved
        assert abs(after_key["x"] - before_key["x"]) < 2  # the key column stayed in view
        assert key_cell.is_visible() and "STRIPE_SECRET_KEY" in key_cell.inner_text()
        # and it is drawn above the cells sliding under it
        top = page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).closest('td, th')?.cellIndex",
            [after_key["x"] + 5, after_key["y"] + after_key["height"] / 2],
        )
        assert top == 0
        page_width = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert page_width[0] <= page_width[1], page_width
    finally:
        context.close()


@pytest.mark.parametrize(
    ("path", "table", "first"),
    [
        ("/audit/", "audit-table", "LONG_TARGET"),
        ("/imports/members/", "member-table", "a.very.long.address@example.com"),
        ("/imports/orders/", "order-table", "90001"),
    ],
)
def test_lists_at_400px_scroll_inside_their_wrapper(
    browser, live_server, user_factory, path, table, first
):
    from decimal import Decimal

    from django.db import transaction

    from imports.models import Member, Order, Product
    from opsportal.audit.services import record
    from tests.factories import PASSWORD

    admin = user_factory("admin", username="ada")
    with transaction.atomic():
        record(
            actor=admin, action="configvar.updated", target_repr="LONG_TARGET " + "X" * 60,
            message="a reason long enough to push the table wider than a phone screen",
        )  # fmt: skip
    member = Member.objects.create(
        email="a.very.long.address@example.com", phone="+6285312345678", name="Siti Aminah Binti"
    )
    product = Product.objects.create(name="Membership Eksporyuk 1 Tahun", price=Decimal("1500000"))
    Order.objects.create(
        inv="90001", member=member, product=product, quantity=1,
        total=Decimal("1500000"), status="completed",
    )  # fmt: skip

    context = browser.new_context(viewport={"width": 400, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", admin.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        page.goto(f"{live_server.url}{path}")
        sizes = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert sizes[0] <= sizes[1], (path, sizes)
        grid = page.get_by_test_id(table)
        wrapper = grid.locator("xpath=..")
        assert "table-responsive" in (wrapper.get_attribute("class") or "")
        cell = grid.locator("tbody tr", has_text=first).locator("td").first
        before = cell.bounding_box()
        wrapper.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
        after = cell.bounding_box()
        assert abs(after["x"] - before["x"]) < 2  # the first column stays in view
        assert cell.is_visible()
    finally:
        context.close()
