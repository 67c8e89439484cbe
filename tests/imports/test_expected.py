"""Generated Sejoli exports imported through the CLI match the generator's expected.json."""

import json
import subprocess
import sys

import pytest

from .conftest import (
    FIXTURES,
    KEPT_SETS,
    NATIVE_FILES,
    assert_matches_expected,
    import_set,
    run_cli,
)


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize("name", KEPT_SETS)
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
    folder = FIXTURES / KEPT_SETS[0]
    first = import_set(folder)
    again = import_set(folder)
    for summary in again[:-1]:
        assert summary["created"] == 0, summary
        assert summary["updated"] == 0, summary
        assert summary["unchanged"] == summary["rows"] - len(summary["rejected"]), summary
    assert again[-1]["totals"] == first[-1]["totals"]


@pytest.mark.django_db
def test_files_are_imported_in_dependency_order():
    folder = FIXTURES / KEPT_SETS[0]
    # given in reverse: subscriptions need orders, orders need users
    result = run_cli(*[folder / f for f in reversed(NATIVE_FILES)])
    assert [r["kind"] for r in result[:-1]] == ["users", "orders", "commissions", "subscriptions"]
    assert all(not r["rejected"] for r in result[:-1] if r["kind"] != "orders")
