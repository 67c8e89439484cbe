"""What django-q2 keeps of a task must be as clean as what the portal stores itself.

django-q2 stores a task's return value and, when it fails, ``"<exception> : <traceback>"`` in
its own table, outside every service. A check's error can quote a URL with its token and an
import's error a cell of the file, so task entry points return only what was already stored
(masked), and failures are re-raised with their message masked and without the chained cause.
"""

import functools

from opsportal.audit.masking import scrub_text


class TaskFailed(RuntimeError):
    """A task's failure, with credentials masked out of its message."""


def masks_failures(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            message = scrub_text(f"{type(exc).__name__}: {exc}")
            raise TaskFailed(message) from None

    return wrapper
