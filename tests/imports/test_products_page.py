"""Product settings pages: the list (figures, filter, query count), the edit page (one
``product_update`` call, its audit event, recomputed commissions, errors next to the fields),
who may do what, the review queue's link, and the shared form view's error mapping."""

import re
from decimal import Decimal

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from imports.choices import CommissionKind, CommissionStatus, ReviewKind, ReviewStatus
from imports.models import AffiliateProfile, Commission, Member, Order, Product, ReviewItem
from opsportal.audit.models import AuditEvent
from opsportal.generic import add_service_errors

pytestmark = pytest.mark.django_db

LIST = reverse("imports:product_list")
UPDATED = "import.product.updated"


def edit_url(product) -> str:
    return reverse("imports:product_edit", args=[product.pk])


_seq = iter(range(1, 1_000_000))


def with_orders(product, n, *, affiliate=None, total="100000", quantity=1, amount=None):
    """``n`` completed orders of ``product``; each gets a commission when ``affiliate`` is
    given, with ``amount`` (``None``: waiting for the product's setting)."""
    for _ in range(n):
        i = next(_seq)
        member = Member.objects.create(email=f"buyer{i}@example.com", name=f"Buyer {i}")
        order = Order.objects.create(
            inv=f"INV{i}", member=member, product=product, quantity=quantity,
            total=Decimal(total), status="completed", affiliate=affiliate,
        )  # fmt: skip
        if affiliate is not None:
            Commission.objects.create(
                order=order, affiliate=affiliate, status=CommissionStatus.ADDED,
                amount=None if amount is None else Decimal(amount),
            )  # fmt: skip
    return product


@pytest.fixture
def affiliate(db):
    member = Member.objects.create(email="aff@example.com", name="Affiliate")
    return AffiliateProfile.objects.create(sejoli_user_id=77, member=member, name="Affiliate")


@pytest.fixture
def catalogue(affiliate):
    """``set``: 20 % commission, 2 orders with computed commissions; ``unset``: no setting,
    3 commissions waiting and one order without an affiliate."""
    priced = Product.objects.create(
        name="Kelas Online", sejoli_id=101, price=Decimal("150000"),
        commission_kind=CommissionKind.PERCENT, commission_value=Decimal("20"), access_days=365,
    )  # fmt: skip
    with_orders(priced, 2, affiliate=affiliate, total="150000", amount="30000")
    unset = Product.objects.create(name="Ebook Bisnis", sejoli_id=202, price=Decimal("99000"))
    with_orders(unset, 3, affiliate=affiliate)
    with_orders(unset, 1)
    return {"set": priced, "unset": unset}


def rows(response) -> dict[str, str]:
    """Product name → the text of its row (tags stripped, whitespace collapsed)."""
    html = response.content.decode()
    out = {}
    for row in re.findall(r'<tr data-testid="product-row">(.*?)</tr>', html, re.S):
        cells = [
            " ".join(re.sub(r"<[^>]+>", " ", c).split())
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        out[cells[0]] = cells
    return out


# --- list ----------------------------------------------------------------------------------------
def test_list_shows_each_products_settings_and_figures(client_for, catalogue):
    client, _ = client_for("operator")
    response = client.get(LIST)
    assert response.status_code == 200
    table = rows(response)
    # name, Sejoli id, price, commission, access days, orders, commissions waiting, edit
    assert table["Kelas Online"][:7] == [
        "Kelas Online",
        "101",
        "Rp 150.000",
        "20%",
        "365",
        "2",
        "0",
    ]
    assert table["Ebook Bisnis"][:7] == [
        "Ebook Bisnis",
        "202",
        "Rp 99.000",
        "not set",
        "—",
        "4",
        "3",
    ]
    html = response.content.decode()
    assert 'class="badge text-bg-warning">not set<' in html
    assert f'href="{edit_url(catalogue["unset"])}"' in html
    hint = re.search(r'data-testid="products-csv-hint">(.*?)</p>', html, re.S).group(1)
    assert "products.csv" in hint and "product_id, product, price, commission, access_days" in hint
    assert reverse("imports:job_list") in hint


def test_needs_a_setting_filter(client_for, catalogue):
    client, _ = client_for("viewer")
    response = client.get(LIST, {"needs": "setting"})
    assert list(rows(response)) == ["Ebook Bisnis"]
    assert response.context["query"] == "needs=setting"  # kept by the pagination links
    everything = rows(client.get(LIST))
    assert sorted(everything) == ["Ebook Bisnis", "Kelas Online"]


def test_list_paginates(client_for):
    Product.objects.bulk_create(Product(name=f"Produk {i:02d}") for i in range(30))
    client, _ = client_for("viewer")
    first = client.get(LIST)
    assert len(rows(first)) == 25 and "Page 1 of 2" in first.content.decode()
    second = client.get(LIST, {"page": 2})
    assert list(rows(second)) == [f"Produk {i}" for i in range(25, 30)]


def test_list_query_count_does_not_grow_with_products_or_orders(client_for, affiliate):
    client, _ = client_for("operator")

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(LIST).status_code == 200
        return len(ctx.captured_queries)

    with_orders(Product.objects.create(name="P0"), 1, affiliate=affiliate)
    queries()  # the first request of a session also refreshes the session row
    small = queries()
    for i in range(1, 12):
        with_orders(Product.objects.create(name=f"P{i}"), 3, affiliate=affiliate)
    assert len(rows(client.get(LIST))) == 12
    assert queries() == small
    # session, user, permissions, page count, the page itself (figures in subqueries)
    assert small <= 8


# --- edit ----------------------------------------------------------------------------------------
def test_edit_page_says_how_many_commissions_will_be_recomputed(client_for, catalogue):
    client, _ = client_for("operator")
    html = client.get(edit_url(catalogue["unset"])).content.decode()
    note = re.search(r'data-testid="recompute-note">(.*?)</div>', html, re.S).group(1)
    assert "<strong>3</strong> commissions" in note and "3 of them wait" in note
    # the current settings are the form's starting values, in the form the form reads back
    form = client.get(edit_url(catalogue["set"])).context["form"]
    assert form.initial == {
        "price": "150.000", "commission_kind": "percent", "commission_value": "20",
        "access_days": 365,
    }  # fmt: skip


def test_operator_sets_a_commission_and_the_waiting_commissions_are_computed(client_for, catalogue):
    client, op = client_for("operator")
    product = catalogue["unset"]
    review = ReviewItem.objects.create(
        kind=ReviewKind.COMMISSION_SETTING, key=f"product:{product.pk}:commission_setting",
        summary="3 orders need a commission setting", product=product,
    )  # fmt: skip
    response = client.post(
        edit_url(product),
        {"price": "Rp 99.000", "commission_kind": "fixed", "commission_value": "25.000",
         "access_days": "30", "reason": "setting from WordPress"},
        follow=True,
    )  # fmt: skip
    assert response.redirect_chain == [(LIST, 302)]
    assert "Saved the settings of Ebook Bisnis: 3 commissions recomputed." in [
        str(m) for m in response.context["messages"]
    ]
    product.refresh_from_db()
    assert (product.commission_kind, product.commission_value, product.access_days) == (
        "fixed", Decimal("25000"), 30,
    )  # fmt: skip
    amounts = Commission.objects.filter(order__product=product).values_list("amount", flat=True)
    assert list(amounts) == [Decimal("25000")] * 3
    review.refresh_from_db()
    assert review.status == ReviewStatus.VERIFIED
    event = AuditEvent.objects.get(action=UPDATED)
    assert (event.actor, event.target_id, event.message) == (
        op, str(product.pk), "setting from WordPress",
    )  # fmt: skip
    assert event.changes["commission_kind"] == ["", "fixed"]
    assert event.changes["commission_value"] == [None, "25000.00"]
    assert event.changes["access_days"] == [None, 30]
    assert "price" not in event.changes  # 99.000 is the price it had
    assert event.changes["commissions_recomputed"] == 3
    # the list now shows the setting and nothing waiting
    cells = rows(client.get(LIST))["Ebook Bisnis"]
    assert cells[3:7] == ["Rp 25.000 per unit", "30", "4", "0"]


def test_changing_a_percent_recomputes_the_existing_amounts(client_for, catalogue):
    client, _ = client_for("operator")
    product = catalogue["set"]
    response = client.post(
        edit_url(product),
        {"price": "150.000", "commission_kind": "percent", "commission_value": "10%",
         "access_days": "365"},
        follow=True,
    )  # fmt: skip
    assert "2 commissions recomputed" in response.content.decode()
    amounts = set(
        Commission.objects.filter(order__product=product).values_list("amount", flat=True)
    )
    assert amounts == {Decimal("15000")}
    event = AuditEvent.objects.get(action=UPDATED)
    assert event.changes["commission_value"] == ["20.00", "10.00"]
    assert set(event.changes) == {
        "commission_value",
        "commissions_recomputed",
        "commissions_before",
    }


def test_saving_unchanged_settings_writes_nothing(client_for, catalogue):
    client, _ = client_for("operator")
    url = edit_url(catalogue["set"])
    data = {
        k: v if v is not None else "" for k, v in client.get(url).context["form"].initial.items()
    }
    response = client.post(url, data, follow=True)
    assert "Nothing changed" in response.content.decode()
    assert not AuditEvent.objects.filter(action=UPDATED).exists()


def test_service_errors_show_next_to_their_fields_and_nothing_is_written(client_for, catalogue):
    client, _ = client_for("operator")
    product = catalogue["set"]
    response = client.post(
        edit_url(product),
        {"price": "-5.000", "commission_kind": "percent", "commission_value": "150",
         "access_days": "-1", "reason": "typo"},
    )  # fmt: skip
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors == {
        "price": ["A price cannot be negative."],
        "commission_value": ["A percent commission is at most 100."],
        "access_days": ["Access days cannot be negative."],
    }
    html = response.content.decode()
    for field, message in [
        ("price", "A price cannot be negative."),
        ("commission_value", "A percent commission is at most 100."),
        ("access_days", "Access days cannot be negative."),
    ]:
        # the message sits right after its own input, not at the top of the form
        assert re.search(
            rf'name="{field}"[^>]*>\s*<div class="invalid-feedback d-block">{re.escape(message)}',
            html,
        ), field
    assert "alert alert-danger" not in html
    product.refresh_from_db()
    assert (product.price, product.commission_value, product.access_days) == (
        Decimal("150000"), Decimal("20"), 365,
    )  # fmt: skip
    assert not AuditEvent.objects.filter(action=UPDATED).exists()
    assert set(Commission.objects.values_list("amount", flat=True)) == {Decimal("30000"), None}


def test_kind_without_amount_and_unreadable_price(client_for, catalogue):
    client, _ = client_for("operator")
    response = client.post(
        edit_url(catalogue["unset"]),
        {"price": "seratus ribu", "commission_kind": "fixed", "commission_value": ""},
    )
    assert response.context["form"].errors == {
        "price": ["Enter an amount in Rupiah, e.g. 150.000."]
    }
    response = client.post(
        edit_url(catalogue["unset"]),
        {"price": "99.000", "commission_kind": "fixed", "commission_value": ""},
    )
    assert response.context["form"].errors == {
        "commission_value": ["Give the commission amount for this kind."]
    }
    assert not AuditEvent.objects.filter(action=UPDATED).exists()


# --- who may -------------------------------------------------------------------------------------
def test_viewer_sees_the_list_but_cannot_edit(client_for, catalogue):
    client, _ = client_for("viewer")
    response = client.get(LIST)
    assert response.status_code == 200 and len(rows(response)) == 2
    assert "/edit/" not in response.content.decode()
    url = edit_url(catalogue["unset"])
    assert client.get(url).status_code == 403
    post = {"commission_kind": "percent", "commission_value": "10"}
    assert client.post(url, post).status_code == 403
    catalogue["unset"].refresh_from_db()
    assert catalogue["unset"].commission_kind == ""
    assert not AuditEvent.objects.filter(action=UPDATED).exists()


def test_pages_need_a_login(client, catalogue):
    for url in (LIST, edit_url(catalogue["unset"])):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_unknown_product_is_404_for_an_operator(client_for):
    client, _ = client_for("operator")
    assert client.get(reverse("imports:product_edit", args=[999])).status_code == 404


# --- navigation ----------------------------------------------------------------------------------
def test_subnav_and_review_queue_link_to_the_product(client_for, catalogue):
    product = catalogue["unset"]
    ReviewItem.objects.create(
        kind=ReviewKind.COMMISSION_SETTING, key=f"product:{product.pk}:commission_setting",
        summary="3 orders need a commission setting", product=product,
    )  # fmt: skip
    url = reverse("imports:review_list")
    operator, _ = client_for("operator")
    html = operator.get(url).content.decode()
    assert f'href="{LIST}"' in html
    link = re.search(r'<a [^>]*href="([^"]+)"[^>]*data-testid="product-setting-link"', html)
    assert link and link.group(1) == edit_url(product)
    viewer, _ = client_for("viewer")
    assert 'data-testid="product-setting-link"' not in viewer.get(url).content.decode()


# --- the shared form view's error mapping --------------------------------------------------------
class _Form(forms.Form):
    price = forms.CharField(required=False)
    note = forms.CharField(required=False)
    token = forms.CharField(required=False, widget=forms.HiddenInput)


def _mapped(exc, field_map=None) -> dict:
    form = _Form({})
    assert form.is_valid()
    add_service_errors(form, exc, field_map)
    return {k: list(v) for k, v in form.errors.items()}


def test_service_errors_map_onto_the_fields_they_name():
    assert _mapped(ValidationError({"price": "negative", "note": ["a", "b"]})) == {
        "price": ["negative"],
        "note": ["a", "b"],
    }
    # a service argument the form calls differently
    assert _mapped(ValidationError({"amount": "negative"}), {"amount": "price"}) == {
        "price": ["negative"]
    }
    # not shown on the form (or hidden): form-level, naming the field
    assert _mapped(ValidationError({"access_days": "negative", "token": "stale"})) == {
        "__all__": ["Access days: negative", "Token: stale"]
    }
    assert _mapped(ValidationError({"__all__": "conflict"})) == {"__all__": ["conflict"]}
    assert _mapped(ValidationError(["one", "two"])) == {"__all__": ["one", "two"]}
    # codes survive for field errors
    form = _Form({})
    form.is_valid()
    add_service_errors(form, ValidationError({"price": ValidationError("x", code="negative")}))
    assert form.has_error("price", code="negative")
