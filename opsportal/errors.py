"""Django's error pages and error e-mails without anything a person posted.

Django's own filter (``SafeExceptionReporterFilter``) stands down when ``DEBUG=True`` — the
default of ``make run`` — and only hides what views mark with ``sensitive_post_parameters``.
Here every posted value and every frame's local variables are replaced, whatever ``DEBUG`` says:
a pasted ``.env`` is in the POST data and in the parser's locals when an import fails, and the
traceback itself (files, lines, code) is what a developer needs to find the bug.
"""

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
