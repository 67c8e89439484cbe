"""The JSON API: tokens, bearer authentication, problem+json errors and the router registry.

Ground floor: this package imports no domain app. Each domain app that serves endpoints has an
optional ``<app>/api.py`` exposing ``router`` (a ``ninja.Router``), found the way
``opsportal.apphooks`` finds ``dashboard`` and ``demo`` (see docs/api.md).
"""
