"""Generated Sejoli exports imported through the CLI match the generator's expected.json."""

import json
import subprocess
import sys

import pytest

from opsportal.audit.models import AuditEvent

from .conftest import (
    FIXTURES,
    NATIVE_FILES,
    NATIVE_SETS,
    SHEET_FILES,
    SHEET_SETS,
    assert_matches_expected,
    assert_sheet_matches_expected,
    import_set,
    run_cli,
)


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("name", NATIVE_SETS)
def test_kept_fixture_matches_expected(name):
    folder = FIXTURES / name
    expected = json.loads((folder / "expected.json").read_text())
    assert_matches_expected(import_set(folder), expected)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ["--seed", "1"],
        ["--seed", "5", "--locale", "en"],
        ["--seed", "9", "--locale", "code", "--old-orders"],
        ["--seed", "11", "--mess", "deleted_users,shared_phones,phone_formats"],
        ["--seed", "13", "--mess", "none", "--locale", "en", "--old-orders"],
        ["--seed", "21", "--mess", "case_twins,multiline_cells,stray_preamble,zero_dates"],
    ],
    ids=["id-all", "en-all", "code-old", "contacts", "clean-old", "layout-mess"],
)
def test_generated_files_match_expected(shared_dir, tmp_path, args):
    tool = shared_dir / "tools" / "make_sejoli_export.py"
    if not tool.exists():
        pytest.skip("generator not present")
    subprocess.run(
        [sys.executable, str(tool), "--out", str(tmp_path), "--orders", "800", *args],
        check=True, capture_output=True,
    )  # fmt: skip
    expected = json.loads((tmp_path / "expected.json").read_text())
    assert_matches_expected(import_set(tmp_path), expected)


@pytest.mark.django_db
def test_shared_fixture_set_matches_expected(shared_dir):
    folder = shared_dir / "fixtures" / "sejoli" / "native"
    expected = json.loads((folder / "expected.json").read_text())
    assert_matches_expected(import_set(folder), expected)


@pytest.mark.django_db
def test_reimporting_the_same_files_creates_nothing():
    folder = FIXTURES / NATIVE_SETS[0]
    first = import_set(folder)
    again = import_set(folder)
    for summary in again[:-1]:
        assert summary["created"] == 0, summary
        assert summary["updated"] == 0, summary
        assert summary["unchanged"] == summary["rows"] - len(summary["rejected"]), summary
    assert again[-1]["totals"] == first[-1]["totals"]


@pytest.mark.django_db
def test_files_are_imported_in_dependency_order():
    folder = FIXTURES / NATIVE_SETS[0]
    # given in reverse: subscriptions need orders, orders need users
    result = run_cli(*[folder / f for f in reversed(NATIVE_FILES)])
    assert [r["kind"] for r in result[:-1]] == [
        "products", "users", "orders", "commissions", "subscriptions",
    ]  # fmt: skip
    assert all(not r["rejected"] for r in result[:-1] if r["kind"] != "orders")


@pytest.mark.django_db
@pytest.mark.parametrize("name", SHEET_SETS)
def test_kept_sheet_fixture_matches_expected(name):
    folder = FIXTURES / name
    expected = json.loads((folder / "expected.json").read_text())
    result = run_cli(*[folder / f for f in SHEET_FILES])
    assert [r["kind"] for r in result[:-1]] == [
        "sheet-orders", "sheet-affiliates", "sheet-memberships",
    ]  # fmt: skip
    assert_sheet_matches_expected(result, expected)


CP1252_MESS = (
    "amount_formats,bad_rows,date_formats,duplicate_rows,email_case,phone_formats,contact_gaps"
)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ["--seed", "1"],
        ["--seed", "8", "--encoding", "cp1252", "--delimiter", ";", "--mess", CP1252_MESS],
        ["--seed", "12", "--mess", "none"],
        ["--seed", "17", "--mess", "bad_rows,duplicate_rows,contact_gaps,blank_lines"],
    ],
    ids=["all", "cp1252-semicolon", "clean", "rows"],
)
def test_generated_sheets_match_expected(shared_dir, tmp_path, args):
    tool = shared_dir / "tools" / "make_sheet_export.py"
    if not tool.exists():
        pytest.skip("generator not present")
    subprocess.run(
        [sys.executable, str(tool), "--out", str(tmp_path), "--orders", "700", *args],
        check=True, capture_output=True,
    )  # fmt: skip
    expected = json.loads((tmp_path / "expected.json").read_text())
    assert_sheet_matches_expected(run_cli(*[tmp_path / f for f in SHEET_FILES]), expected)


@pytest.mark.django_db
def test_reimporting_the_sheet_creates_nothing():
    folder = FIXTURES / SHEET_SETS[0]
    first = run_cli(*[folder / f for f in SHEET_FILES])
    again = run_cli(*[folder / f for f in SHEET_FILES])
    for summary in again[:-1]:
        assert summary["created"] == 0 and summary["updated"] == 0, summary
    assert again[-1]["totals"] == first[-1]["totals"]


TWINS_CSV = (
    "User ID,name,email,phone,address,affiliate,group\n"
    # The newer account comes first in the file and differs from the older one; with batches
    # of 10 the twins land in different batches.
    '52,Siti R.,SITI@example.com,08123456789,"Jl. Baru 2",-,member\n'
    + "".join(f"{100 + i},Filler {i},filler{i}@example.com,,,-,member\n" for i in range(10))
    + "17,Siti Rahmawati,siti@example.com,,,-,member\n"
)


@pytest.mark.django_db
@pytest.mark.parametrize("batch_size", [1000, 10])
def test_twin_accounts_settle_in_one_import(tmp_path, user_factory, batch_size):
    """Re-importing a users file with case twins reports everything unchanged."""
    from imports.models import Member

    from .factories import apply_file

    operator = user_factory("operator")
    path = tmp_path / "users.csv"
    path.write_text(TWINS_CSV)
    first = apply_file(operator, path, batch_size=batch_size)
    assert first.status == "completed"
    siti = Member.objects.get(email="siti@example.com")
    # the oldest account's details, gaps filled from the newer twin
    assert (siti.name, siti.phone, siti.address) == (
        "Siti Rahmawati",
        "+628123456789",
        "Jl. Baru 2",
    )
    again = apply_file(operator, path, batch_size=batch_size)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 12)
    assert AuditEvent.objects.filter(action="import.job.completed", job_id=again.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("name", NATIVE_SETS)
def test_reimporting_any_kept_users_file_changes_nothing(user_factory, name):
    from .factories import apply_file

    operator = user_factory("operator")
    apply_file(operator, FIXTURES / name / "users.csv")
    again = apply_file(operator, FIXTURES / name / "users.csv")
    assert (again.created_count, again.updated_count) == (0, 0)
