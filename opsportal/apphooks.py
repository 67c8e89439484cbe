"""Optional per-app hooks (`<app>.dashboard`, `<app>.demo`, `<app>.calendar`, ...) found by module
name (`calendar`: entries on the operations calendar, see `operations/hooks.py`)."""

import importlib
from collections.abc import Iterator
from types import ModuleType

DOMAIN_APPS = (
    "environments",
    "runbooks",
    "imports",
    "mailings",
    "deployments",
    "notifications",
    "operations",
    "sejolisync",
    "compliance",
)


def app_hooks(submodule: str) -> Iterator[ModuleType]:
    """Yield ``<app>.<submodule>`` for each domain app that provides it, in dependency order."""
    for app in DOMAIN_APPS:
        name = f"{app}.{submodule}"
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
