"""Error pages (403/404/500), their log lines, and Django's error reports without anything a
person posted.

Django's own filter (``SafeExceptionReporterFilter``) stands down when ``DEBUG=True`` — the
default of ``make run`` — and only hides what views mark with ``sensitive_post_parameters``.
Here every posted value and every frame's local variables are replaced, whatever ``DEBUG`` says:
a pasted ``.env`` is in the POST data and in the parser's locals when an import fails, and the
traceback itself (files, lines, code) is what a developer needs to find the bug.
"""

import logging
import re

from django.http import HttpResponseForbidden, HttpResponseNotFound, HttpResponseServerError
from django.template import loader
from django.template.exceptions import TemplateDoesNotExist
from django.views.debug import SafeExceptionReporterFilter


class PortalExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request) -> bool:
        return True

    def get_post_parameters(self, request):
        if request is None:
            return {}
        cleansed = request.POST.copy()
        for key in cleansed:
            cleansed[key] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]


# --- Error pages and their log lines ------------------------------------------------------------
class ClientErrorLogFilter(logging.Filter):
    """A 4xx answer is one warning line: ``Forbidden (Permission denied): /audit/``.

    Django's ``django.request`` logger attaches the exception of a 403 or 404 to its record, so
    every refused page printed a full traceback — twice, as Django's own console handler (DEBUG)
    printed it before the root handler did (settings.LOGGING now leaves the ``django`` logger to
    the root handler alone). A refusal is not a bug: the traceback stays for 5xx only."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name.startswith("django.") and status is not None and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class RequestPathLogFilter(logging.Filter):
    """Django's request loggers name the path of every 4xx/5xx answer (``Unauthorized:
    /hooks/sejoli/<token>/``), and some addresses carry their own credential: a shop hook's
    token is the last part of its address. Attached to the loggers ``django.request``,
    ``django.server`` and ``django.security.csrf`` themselves (settings.LOGGING), so the record
    is masked before any handler sees it: a token segment of those addresses becomes ``***``,
    and whatever else the arguments hold is masked as free text is (``scrub_text``)."""

    TOKEN_PATHS = re.compile(r"(/hooks/sejoli/)[^/\s?#\"']+")

    def _mask(self, value):
        if not isinstance(value, str):
            return value
        from opsportal.audit.masking import scrub_text

        return scrub_text(self.TOKEN_PATHS.sub(r"\1***", value))

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self._mask(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._mask(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: self._mask(arg) for key, arg in record.args.items()}
        request = getattr(record, "request", None)
        if request is not None and self.TOKEN_PATHS.search(getattr(request, "path", "")):
            # AdminEmailHandler and the technical 500 page read the path from the request
            record.request = None
        return True


def _page(template: str, context: dict, request=None) -> str:
    return loader.get_template(template).render(context, request)


def _context(request, exception=None) -> dict:
    message = ""
    if exception is not None and exception.args:
        first = exception.args[0]
        message = first if isinstance(first, str) else ""
    return {"request_path": request.path, "reason": message}


def permission_denied(request, exception=None):
    """403: what was refused, whose role lacks it, where to go instead."""
    return HttpResponseForbidden(_page("errors/403.html", _context(request, exception), request))


def page_not_found(request, exception=None):
    """404: the address is not (or no longer) here; links to the dashboard and search."""
    context = _context(request, None)  # Django's message names URL patterns: not for users
    return HttpResponseNotFound(_page("errors/404.html", context, request))


def server_error(request):
    """500: rendered without a request context, so nothing here touches the database (the
    database may be why we are here): no user, no navigation counts, no context processors."""
    try:
        body = _page("errors/500.html", {"request_id": getattr(request, "request_id", "")})
    except TemplateDoesNotExist:  # pragma: no cover - the template ships with the portal
        body = "<h1>Server error</h1><p>Something went wrong on our side.</p>"
    return HttpResponseServerError(body)
