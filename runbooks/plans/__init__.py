"""Read a team's Markdown plan into phases, steps, a rollback plan and notes.

The package is split along what a reader looks for:

=================  ===========================================================================
``frontmatter``    YAML front matter through a loader that refuses anchors/aliases, 16 KB cap;
                   a Cursor ``todos:`` list as steps
``walker``         the block walk (markdown-it's Rust block tree with source maps): headings,
                   sections, boxes, numbered/bold steps, groups
``rules``          patterns: numbered titles, bold labels, rollback words (EN/ID/PT), box lines
``fences``         which fenced blocks are shell commands and which are output
``gsd``            GSD ``<task>`` blocks and XML sections (``<objective>``, ``<context>``…)
``markers``        ``<!-- ops: second-signoff -->`` / ``<!-- ops: check http … -->``
``invariants``     what a parse must keep, checked against the source (tests, preview counts)
``result``         the dataclasses below
=================  ===========================================================================

API (stable; the web/CLI preview, the diff and the import service build on it)
------------------------------------------------------------------------------
``parse(text, *, default_title="") -> ParsedPlan`` and ``parse_bytes(data, …)`` (size and UTF-8
checked by ``decode``); errors are ``PlanParseError`` with a readable message (and the line when
there is one). ``MAX_BYTES`` is 2 MB. Parsing time is linear in the size of the file.

``ParsedPlan``
    ``title``, ``metadata`` (front matter, JSON-safe), ``phases``, ``rollback`` and ``notes``
    (``Section``: ``title``, ``body``, ``line``), ``warnings`` (``PlanWarning``: ``line``,
    ``message``: anything ambiguous — a fence labelled shell that shows output, a ``<task>``
    without ``<name>``, a box without text, a marker outside any step, boxes the walk could
    not turn into steps), ``outline`` (every heading: ``Heading`` ``level``, ``title``,
    ``line``, ``role`` = title | phase | group | note | rollback | step | body | empty),
    ``checkboxes_found``; ``step_count``, ``steps()``, ``counts()`` (phases, steps, sub_steps,
    checkboxes_found, checkbox_steps, commands, second_signoff, checks, rollback_sections,
    notes, warnings) and ``to_dict()`` (JSON: the same, with ``counts``).
``ParsedPhase``
    ``title``, ``description``, ``steps``, ``group`` (the heading it sits under: an H2 above
    H3 phases, or the section of a numbered step that only heads boxes), ``line``,
    ``rollback`` (steps written in a rollback section: optional, done only when rolling back).
``ParsedStep``
    ``title`` (one source line, ``**``/backticks removed), ``body`` (Markdown, source slices),
    ``commands`` (``Command``: ``lang``, ``code``, ``output``), ``checked``, ``ref`` (todo id,
    spec-kit ``T001``), ``verify`` (a GSD ``<verify>`` as written), ``source`` (checklist |
    heading | bold | task | todo), ``line``, ``depth`` and ``parent`` (index of the parent step
    in the same phase; sub-steps follow their parent), ``required``,
    ``requires_second_signoff``, ``check_type`` / ``check_config`` (from markers, in the shape
    ``runbooks.services.check_config_clean`` takes), ``markers`` (the directives as written),
    ``fields`` (a GSD task's sub-elements and attributes).

How plans are read: see docs/runbooks.md ("How plans are read", "Approval written in the plan").
"""

import gc

from .errors import PlanParseError
from .result import Command, Heading, ParsedPhase, ParsedPlan, ParsedStep, PlanWarning, Section

__all__ = [
    "MAX_BYTES", "Command", "Heading", "ParsedPhase", "ParsedPlan", "ParsedStep", "PlanParseError",
    "PlanWarning", "Section", "decode", "parse", "parse_bytes",
]  # fmt: skip

MAX_BYTES = 2 * 1024 * 1024


def decode(data: bytes) -> str:
    """Check size and encoding of an uploaded or read file."""
    if len(data) > MAX_BYTES:
        raise PlanParseError(
            f"The file is {len(data) / 1024 / 1024:.1f} MB; plans are limited to 2 MB."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanParseError(
            f"The file is not valid UTF-8 (byte {exc.start}); save it as UTF-8 and try again."
        ) from None


def parse(text: str, *, default_title: str = "") -> ParsedPlan:
    """Parse a plan; raises :class:`PlanParseError` with a readable message."""
    from .walker import _Walker

    if len(text.encode("utf-8")) > MAX_BYTES:
        raise PlanParseError("The file is larger than 2 MB; plans are limited to 2 MB.")
    if not text.strip():
        raise PlanParseError("The file is empty.")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    # The walk allocates an object per block and step and frees none of them until it ends:
    # the cyclic collector would only rescan them (a third of the time on a 2 MB plan).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _Walker(text, default_title).run()
    finally:
        if enabled:
            gc.enable()


def parse_bytes(data: bytes, *, default_title: str = "") -> ParsedPlan:
    return parse(decode(data), default_title=default_title)
