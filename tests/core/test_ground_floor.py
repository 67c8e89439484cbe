"""The ground floor (``opsportal/``) imports no domain app: apps plug into it through
``opsportal.apphooks`` (dashboard, hot pages, search, waiting, calendar, status…)."""

import ast
from pathlib import Path

from opsportal.apphooks import DOMAIN_APPS

GROUND = Path(__file__).resolve().parents[2] / "opsportal"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_module_of_the_ground_floor_imports_a_domain_app():
    offenders = {}
    for path in GROUND.rglob("*.py"):
        if "migrations" in path.parts:
            continue  # historical models are reached through apps.get_model, not imports
        domain = {m for m in _imported_modules(path) if m.split(".")[0] in DOMAIN_APPS}
        if domain:
            offenders[str(path.relative_to(GROUND))] = sorted(domain)
    assert not offenders, offenders


def test_the_check_sees_an_import_written_either_way(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import runbooks.models\ndef f():\n    from imports.models import Member\n")
    assert {"runbooks.models", "imports.models"} <= _imported_modules(sample)
