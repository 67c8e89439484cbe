"""The one ``NinjaAPI``: problem+json errors, token auth, each app's router.

Routers come from ``opsportal.audit.api`` (ground floor) and each domain app's optional
``<app>/api.py`` (``opsportal.apphooks``), which exposes ``router`` (a ``ninja.Router``, its paths
absolute under ``/api/``) and may set ``prefix``. An operation without ``auth=`` needs the
``read`` scope (the API's default): a write names its scope, ``auth=scoped("env:import")``.
"""

import importlib
from collections.abc import Iterator
from types import ModuleType

from ninja import NinjaAPI

from opsportal.apphooks import app_hooks

from . import problems
from .auth import scoped
from .scopes import READ, SCOPES

CORE_MODULES = ("opsportal.api.endpoints", "opsportal.audit.api")

DESCRIPTION = """
The portal's JSON API. Authenticate with `Authorization: Bearer opsp_<id>_<secret>`: a personal
token from *My API tokens*, or a service account's token (admins). Each endpoint names the scope
it needs; the request also needs the token owner's permission, as on the pages.

Errors are `application/problem+json`: `type`, `title`, `status`, `detail` and, for 422,
`errors: [{"field", "message"}]`. Lists are paginated by cursor: pass `next` back as `cursor`.

Scopes: """ + ", ".join(f"`{name}` ({text})" for name, text in SCOPES.items())


def router_modules() -> Iterator[ModuleType]:
    for name in CORE_MODULES:
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    yield from app_hooks("api")


def build_api() -> NinjaAPI:
    api = NinjaAPI(
        title="opsportal API",
        version="1",
        description=DESCRIPTION,
        auth=scoped(READ),
        urls_namespace="apiv1",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    problems.install(api)
    for module in router_modules():
        api.add_router(getattr(module, "prefix", ""), module.router)
    return api


api = build_api()
