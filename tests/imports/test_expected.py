"""Generated Sejoli exports imported through the CLI match the generator's expected.json."""

import json
import subprocess
import sys

import pytest

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
    assert [r["kind"] for r in result[:-1]] == ["users", "orders", "commissions", "subscriptions"]
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
