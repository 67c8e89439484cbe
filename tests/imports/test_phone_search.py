"""Member search by phone: the query is normalised the way imports normalise phones."""

import pytest
from django.urls import reverse

from imports import normalise
from imports.models import Member

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "query, wanted",
    [
        ("0853", "+62853"),
        ("0853 1234", "+628531234"),
        ("0853-1234-5678", "+6285312345678"),
        ("(0853) 12-34", "+628531234"),
        ("62853", "+62853"),
        ("+62853", "+62853"),
        ("081234567890", normalise.phone("081234567890")),
        ("anna@example.com", ""),
        ("Budi", ""),
        ("12", ""),
    ],
)
def test_phone_query(query, wanted):
    assert normalise.phone_query(query) == wanted


def test_a_full_number_is_normalised_like_an_import():
    for spelling in ("0853 1234 5678", "+62 853-1234-5678", "6285312345678", "085312345678"):
        assert normalise.phone_query(spelling) == normalise.phone(spelling) == "+6285312345678"


@pytest.fixture
def members(db):
    # members as imports store them (E.164); created directly as read-only fixtures of a list
    return {
        "siti": Member.objects.create(
            email="siti@example.com", phone="+6285312345678", name="Siti"
        ),
        "budi": Member.objects.create(
            email="budi@example.com", phone="+6281299990001", name="Budi"
        ),
        "odd": Member.objects.create(email="odd@example.com", phone="", name="0853 in a name"),
    }


@pytest.mark.parametrize(
    "query, found",
    [
        ("0853", {"siti", "odd"}),
        ("08531234", {"siti"}),
        ("0853-1234-5678", {"siti"}),
        ("+62853", {"siti"}),
        ("62812", {"budi"}),
        ("0812 9999", {"budi"}),
        ("budi@", {"budi"}),
        ("0877", set()),
    ],
)
def test_member_search_finds_local_numbers(client_for, members, query, found):
    client, _ = client_for("viewer")
    page = client.get(reverse("imports:member_list"), {"q": query}).content.decode()
    shown = {name for name, m in members.items() if m.email in page}
    assert shown == found
