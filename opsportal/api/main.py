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
from .auth import required_scopes, scoped
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


class PortalAPI(NinjaAPI):
    """``NinjaAPI`` whose schema names each operation's scopes (``x-required-scopes`` and a line
    of its description): OpenAPI has no scopes for HTTP bearer auth."""

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        root = schema["servers"][0]["url"] if schema.get("servers") else ""
        by_key = {(m.lower(), path): scopes for m, path, _op, scopes in operations(self)}
        for path, item in schema["paths"].items():
            rel = path.removeprefix(root).removeprefix("/api")
            for method, op in item.items():
                scopes = by_key.get((method, rel))
                if scopes is None:
                    continue
                op["x-required-scopes"] = list(scopes)
                for status, text in _ERROR_RESPONSES.items():
                    op["responses"].setdefault(status, _problem_response(text))
                said = ", ".join(f"`{s}`" for s in scopes) or "any valid token"
                op["description"] = f"**Scope:** {said}.\n\n" + (op.get("description") or "")
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        return schema


PROBLEM_SCHEMA = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; 422 adds errors: [{field, message}]",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": ["string", "null"]},
                    "in": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
        "required_scopes": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["type", "title", "status"],
}
_ERROR_RESPONSES = {
    401: "No valid token",
    403: "The token lacks the scope, or its owner the permission",
    404: "No such object",
    422: "The request does not validate, or the service refused it",
}


def _problem_response(text: str) -> dict:
    return {
        "description": text,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def operations(api: NinjaAPI | None = None):
    """``(METHOD, path under /api, operation, scopes)`` for every operation (scopes None: the
    operation takes no token)."""
    api = api or globals()["api"]
    for bound in api._get_bound_routers():
        for path, path_view in bound.path_operations.items():
            full = "/" + "/".join(p.strip("/") for p in (bound.prefix, path) if p.strip("/"))
            for op in path_view.operations:
                for method in op.methods:
                    yield method, full, op, required_scopes(op)


def build_api() -> NinjaAPI:
    api = PortalAPI(
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
